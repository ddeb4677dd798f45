"""The connections endpoint's actions: add, delete and list; no secret ever leaves."""

from __future__ import annotations

from rest_api_plugin.errors import BadRequest, Conflict, NotFound
from rest_api_plugin.masking import mask_uri
from rest_api_plugin.result import CallContext, Result

FIELDS = {  # argument -> Connection attribute
    "conn_type": "conn_type",
    "conn_host": "host",
    "conn_login": "login",
    "conn_password": "password",
    "conn_schema": "schema",
    "conn_port": "port",
    "conn_extra": "extra",
    "conn_description": "description",
}


def _build(args: dict):
    from airflow.models import Connection

    try:
        if args.get("conn_uri"):
            conn = Connection(conn_id=args["conn_id"], uri=args["conn_uri"])
            if args.get("conn_extra"):
                conn.set_extra(args["conn_extra"])
            if args.get("conn_description"):
                conn.description = args["conn_description"]
            return conn
        values = {attr: args[name] for name, attr in FIELDS.items() if name in args}
        return Connection(conn_id=args["conn_id"], **values)
    except RecursionError:
        raise BadRequest("Invalid connection: its extra is nested too deeply") from None
    except (ValueError, TypeError) as err:
        raise BadRequest(f"Invalid connection: {err}") from err


def _existing(session, conn_id: str):
    from airflow.models import Connection

    return session.query(Connection).filter_by(conn_id=conn_id).one_or_none()


def add_connection(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        if _existing(session, args["conn_id"]) is not None:
            raise Conflict(f"A connection with `conn_id`={args['conn_id']} already exists.")
        conn = _build(args)
        session.add(conn)
        session.flush()
    return Result(output=f"Successfully added `conn_id`={conn.conn_id} : {mask_uri(conn.get_uri())}", data=conn)


def delete_connection(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        existing = _existing(session, args["conn_id"])
        if existing is None:
            raise NotFound(f"Did not find a connection with `conn_id`={args['conn_id']}")
        session.delete(existing)
    return Result(output=f"Successfully deleted connection with `conn_id`={args['conn_id']}", data=existing)


def list_connections(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conns = session.query(Connection).order_by(Connection.conn_id).all()
    output = "\n".join(f"{c.conn_id}\t{c.conn_type}\t{c.host or ''}" for c in conns)
    return Result(output=output, data={"connections": conns, "total_entries": len(conns)})
