"""The variables endpoint's actions: set, get, delete, import, export and list; sensitive values stay masked."""

from __future__ import annotations

import json

from rest_api_plugin.errors import NotFound
from rest_api_plugin.masking import mask_value
from rest_api_plugin.result import CallContext, Result


def _decoded(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _stored() -> dict[str, str]:
    from airflow.models import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return {v.key: v.val for v in session.query(Variable).order_by(Variable.key)}


def set_variable(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Variable

    key = args["key"]
    value = json.loads(args["value"]) if args["json"] else args["value"]
    Variable.set(key, value, description=args.get("description"), serialize_json=args["json"])
    return Result(output=f"Variable {key} created", data={"key": key, "value": mask_value(key, value)})


def get_variable(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Variable

    key = args["key"]
    try:
        if "default" in args:
            value = Variable.get(key, default_var=args["default"], deserialize_json=args["json"])
        else:
            value = Variable.get(key, deserialize_json=args["json"])
    except KeyError:
        raise NotFound(f"Variable {key} does not exist") from None
    except ValueError:
        raise NotFound(f"Variable {key} does not hold JSON; ask without json") from None
    shown = mask_value(key, value)
    output = json.dumps(shown, indent=2) if args["json"] and not isinstance(shown, str) else str(shown)
    return Result(output=output, data={"key": key, "value": shown})


def delete_variable(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Variable

    key = args["key"]
    if not Variable.delete(key):
        raise NotFound(f"Variable {key} does not exist")
    return Result(output=f"Variable {key} deleted", data={"key": key})


def import_variables(args: dict, ctx: CallContext) -> Result:
    from airflow.models import Variable

    imported = args["import"]
    for name, value in imported.items():
        Variable.set(name, value, serialize_json=not isinstance(value, str))
    return Result(
        output=f"{len(imported)} of {len(imported)} variables successfully updated.",
        data={"imported": sorted(imported)},
    )


def export_variables(args: dict, ctx: CallContext) -> Result:
    exported = {name: mask_value(name, _decoded(value)) for name, value in _stored().items()}
    return Result(output=json.dumps(exported, indent=4, sort_keys=True), data=exported)


def list_variables(args: dict, ctx: CallContext) -> Result:
    keys = list(_stored())
    return Result(output="\n".join(keys), data={"keys": keys, "total_entries": len(keys)})
