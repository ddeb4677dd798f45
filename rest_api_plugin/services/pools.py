"""The pool endpoint's actions: set, get, delete and list."""

from __future__ import annotations

from rest_api_plugin.errors import Conflict, NotFound
from rest_api_plugin.result import CallContext, Result


def _table(pools: list) -> str:
    return "\n".join(f"{p.pool}\t{p.slots}\t{p.description or ''}" for p in pools)


def _existing(session, name: str):
    from airflow.models import Pool

    found = Pool.get_pool(name, session=session)
    if found is None:
        raise NotFound(f"Pool {name} does not exist")
    return found


def set_pool(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        found = Pool.create_or_update_pool(
            name=args["pool_name"],
            slots=args["slot_count"],
            description=args.get("pool_description", ""),
            include_deferred=args["include_deferred"],
            session=session,
        )
    return Result(output=f"Pool {found.pool} set\n" + _table([found]), data=found)


def get_pool(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        found = _existing(session, args["pool_name"])
    return Result(output=_table([found]), data=found)


def delete_pool(args: dict, ctx: CallContext) -> Result:
    from airflow.exceptions import AirflowException
    from airflow.models import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        found = _existing(session, args["pool_name"])
        try:
            Pool.delete_pool(args["pool_name"], session=session)
        except AirflowException as err:  # the default pool cannot be deleted
            raise Conflict(str(err)) from err
    return Result(output=f"Pool {found.pool} deleted", data=found)


def list_pools(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        pools = session.query(Pool).order_by(Pool.pool).all()
    return Result(output=_table(pools), data={"pools": pools, "total_entries": len(pools)})
