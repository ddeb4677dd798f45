"""Keeps secrets out of every answer, log and audit row: connection passwords, sensitive keys of a
connection's extra and of a URI's query, sensitive variable values, and secrets in rendered templates.

"Sensitive" is Airflow's own rule (``should_hide_value_for_key``): a name containing one of Airflow's
sensitive words (password, secret, token, api_key, private_key, ...) or of ``[core] sensitive_var_conn_names``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import quote_plus, unquote_plus

from rest_api_plugin.airflow_compat import secrets_masker

MASK = "***"

# scheme://authority/path?query#fragment, the authority ending at the first "/", "?" or "#" (as urlsplit)
_URI = re.compile(
    r"^(?P<scheme>[^:/?#]+://)(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?P<fragment>#.*)?$",
    re.S,
)
EXTRA_QUERY_KEY = "__extra__"  # Airflow's URI form for an extra that is not flat strings


def is_sensitive_name(name: str) -> bool:
    return bool(name) and secrets_masker.should_hide_value_for_key(name)


def redact(value: Any, name: str | None = None) -> Any:
    """Airflow's redaction: values registered as secrets (e.g. a sensitive variable read while rendering)
    and everything under a sensitive name become ``***``; dicts and lists are walked."""
    return secrets_masker.redact(value, name)


def mask_value(key: str, value: Any) -> Any:
    """A variable's value, masked when its key names a secret."""
    return MASK if is_sensitive_name(key) and value not in (None, "") else value


def mask_mapping(value: Any) -> Any:
    """A JSON-like value with the value of every sensitive key masked, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if is_sensitive_name(str(k)) and v not in (None, "") else mask_mapping(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_mapping(item) for item in value]
    return value


def mask_extra(extra: Any) -> Any:
    """A connection's extra (a JSON object, as text or decoded) with its sensitive keys masked; text that is
    not a JSON object is masked whole, since what it holds cannot be told."""
    if extra in (None, ""):
        return extra
    if isinstance(extra, Mapping):
        return mask_mapping(extra)
    try:
        decoded = json.loads(extra)
    except (TypeError, ValueError, RecursionError):
        return MASK
    return json.dumps(mask_mapping(decoded)) if isinstance(decoded, dict) else MASK


def _mask_authority(authority: str) -> str:
    """``login:password@host``: the password is everything between the first ":" of the user part and the
    last "@" (Airflow splits a URI as urlsplit does, so a password may contain "@")."""
    if "@" not in authority:
        return authority
    user, host = authority.rsplit("@", 1)
    if ":" in user:
        login, password = user.split(":", 1)
        if password:
            user = f"{login}:{MASK}"
    return f"{user}@{host}"


def _mask_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        name = unquote_plus(key)
        if name == EXTRA_QUERY_KEY and value:
            value = quote_plus(str(mask_extra(unquote_plus(value))))
        elif value and is_sensitive_name(name):
            value = MASK
        pairs.append(f"{key}{sep}{value}")
    return "&".join(pairs)


def mask_uri(uri: str) -> str:
    """A connection URI with its password and the values of sensitive query parameters (extra) masked."""
    match = _URI.match(uri or "")
    if not match:
        return uri
    parts = match.groupdict(default="")
    query = f"?{_mask_query(parts['query'])}" if match.group("query") is not None else ""
    return f"{parts['scheme']}{_mask_authority(parts['authority'])}{parts['path']}{query}{parts['fragment']}"


# How an argument that holds a secret is shown, as its schema field declares it (metadata ``mask``)
MASKS = {
    "uri": mask_uri,  # a connection URI: its password and sensitive query values
    "extra": mask_extra,  # a JSON object: its sensitive keys
    "secret": lambda value: MASK,
    "size": lambda value: f"<{len(value)} characters>" if isinstance(value, str) else value,
}


def mask_arguments(arguments: Mapping[str, Any], declared: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """The request's arguments as the envelope and the audit log show them: no password, no secret value.

    ``declared`` is the endpoint schema's word on its arguments (``ArgumentsSchema.masks()``): name ->
    ``{"mask": "uri" | "extra" | "secret" | "size"}``, with ``"when_sensitive": OTHER`` when the value is a
    secret only if argument OTHER names one (a variable's value, by its key). Besides, any argument whose own
    name is sensitive (``conn_password``, ``*token*``) is masked, and the CSRF token is left out."""
    declared = declared or {}
    masked: dict[str, Any] = {}
    for name, value in arguments.items():
        if name == "csrf_token":
            continue
        rule = declared.get(name)
        if rule and (not rule.get("when_sensitive") or is_sensitive_name(arguments.get(rule["when_sensitive"], ""))):
            masked[name] = MASKS[rule["mask"]](value)
        elif is_sensitive_name(name):
            masked[name] = MASK
        else:
            masked[name] = value
    return masked
