"""The pool endpoint: set, get, delete and list."""

from __future__ import annotations

from rest_api_plugin.errors import Conflict, NotFound
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services import serializers


def _table(pools: list[dict]) -> str:
    return "\n".join(f"{p['pool']}\t{p['slots']}\t{p['description'] or ''}" for p in pools)


def pool(args: dict, ctx: CallContext) -> Result:
    from airflow.exceptions import AirflowException
    from airflow.models import Pool
    from airflow.utils.session import create_session

    action = args["action"]
    with create_session() as session:
        if action == "set":
            found = Pool.create_or_update_pool(
                name=args["pool_name"],
                slots=args["slot_count"],
                description=args.get("pool_description", ""),
                include_deferred=args["include_deferred"],
                session=session,
            )
            pools = [serializers.pool(found)]
            return Result(output=f"Pool {found.pool} set\n" + _table(pools), data=pools[0])
        if action in ("get", "delete"):
            found = Pool.get_pool(args["pool_name"], session=session)
            if found is None:
                raise NotFound(f"Pool {args['pool_name']} does not exist")
            data = serializers.pool(found)
            if action == "get":
                return Result(output=_table([data]), data=data)
            try:
                Pool.delete_pool(args["pool_name"], session=session)
            except AirflowException as err:  # the default pool cannot be deleted
                raise Conflict(str(err))
            return Result(output=f"Pool {data['pool']} deleted", data=data)
        pools = [serializers.pool(p) for p in session.query(Pool).order_by(Pool.pool)]
        return Result(output=_table(pools), data={"pools": pools, "total_entries": len(pools)})
