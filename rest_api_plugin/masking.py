"""Keeps secrets out of every answer: connection passwords and sensitive variable values."""

from __future__ import annotations

import re
from typing import Any, Mapping

MASK = "***"

# scheme://login:password@host -> scheme://login:***@host
_URI_PASSWORD = re.compile(r"^(?P<head>[^:/?#]+://[^:@/?#]*:)(?P<password>[^@/?#]*)(?P<tail>@.*)$", re.S)


def mask_uri(uri: str) -> str:
    match = _URI_PASSWORD.match(uri or "")
    if not match or not match.group("password"):
        return uri
    return f"{match.group('head')}{MASK}{match.group('tail')}"


def is_sensitive_name(name: str) -> bool:
    from airflow.utils.log.secrets_masker import should_hide_value_for_key

    return bool(name) and should_hide_value_for_key(name)


def mask_value(key: str, value: Any) -> Any:
    """A variable's value, masked when its key names a secret (Airflow's own rule: password, token...)."""
    return MASK if is_sensitive_name(key) and value not in (None, "") else value


def mask_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The request's arguments as the envelope shows them: no password, no secret value."""
    masked: dict[str, Any] = {}
    for name, value in arguments.items():
        if name == "csrf_token":
            continue
        if name == "conn_uri":
            masked[name] = mask_uri(value)
        elif name == "value" and is_sensitive_name(arguments.get("key", "")):
            masked[name] = MASK
        elif is_sensitive_name(name):  # conn_password, and any *password*, *secret*, *token* argument
            masked[name] = MASK
        elif name == "import" and isinstance(value, str):
            masked[name] = f"<{len(value)} characters>"
        else:
            masked[name] = value
    return masked
