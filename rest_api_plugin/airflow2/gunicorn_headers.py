"""Let the plugin's own token header through gunicorn >= 22, and nothing else.

Since gunicorn 22 the setting ``header_map`` defaults to ``drop``: a request header whose name contains
``_`` is silently discarded, because ``X_Forwarded_For`` and ``X-Forwarded-For`` would both become
``HTTP_X_FORWARDED_FOR`` in the WSGI environ and could be merged into a spoofed value. The original
plugin's clients send ``rest_api_plugin_http_token: ...``, so a stock ``airflow webserver`` answered them
403 "Token Authentication Failed".

``accept_token_header(name)`` makes gunicorn read exactly that header name (case-insensitive) as its
hyphenated spelling (``rest-api-plugin-http-token``), which maps to the very environ key the plugin reads
(``HTTP_REST_API_PLUGIN_HTTP_TOKEN``). It does so only while ``header_map`` is ``drop``: ``refuse`` and
``dangerous`` are the operator's explicit choices and are left alone, and every other underscore header
is still dropped. If a client sends both spellings, gunicorn joins the two values with "," as for any
repeated header, which matches no token.

Where gunicorn is wrapped:

* gunicorn 26 and later: ``gunicorn.http.message.HeaderPolicy._apply_header_policy(name, value, ...)``,
  the one place where both HTTP/1 parsers (pure Python and the gunicorn_h1c fast path) and HTTP/2 apply
  ``header_map`` to an (upper-cased) header name;
* gunicorn 22 to 25: ``gunicorn.http.message.Message.parse_headers(data, from_trailer=False)``, which
  receives the raw header block as bytes: the name is rewritten at the start of a header line before
  gunicorn parses it. gunicorn 25's gunicorn_h1c fast path applies ``header_map`` inline and cannot be
  reached; a warning says so when gunicorn_h1c is installed there (``--http-parser python`` avoids it).

Nothing here imports gunicorn: the plugin module is also imported by the scheduler and the workers, so
the patch is made only in a process that already runs gunicorn (the webserver's master with --preload,
or each worker otherwise). Any failure is logged as a warning and never stops the webserver.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import re
import sys
import threading

log = logging.getLogger(__name__)

# RFC 9110 token characters (what gunicorn accepts in a header name), with at least one "_".
_NAME_RE = re.compile(r"[-!#$%&'*+.^`|~0-9A-Za-z]*_[-!#$%&'*+.^_`|~0-9A-Za-z]*")
# Hyphenated names gunicorn or WSGI act on themselves: a token header renamed to one of these could
# change how the request is framed, routed or trusted, so such a name is never accepted.
_RESERVED = frozenset(
    {
        "CONTENT-LENGTH",
        "CONTENT-TYPE",
        "TRANSFER-ENCODING",
        "TE",
        "TRAILER",
        "EXPECT",
        "HOST",
        "CONNECTION",
        "KEEP-ALIVE",
        "PROXY-CONNECTION",
        "UPGRADE",
        "FORWARDED",
        "SCRIPT-NAME",
        "PATH-INFO",
        "REMOTE-ADDR",
        "REMOTE-USER",
        "AUTHORIZATION",
        "COOKIE",
    }
)
_MARK = "_rest_api_plugin_accepts_token_header"

_lock = threading.Lock()
_accepted: frozenset[str] = frozenset()  # upper-case underscore spellings
_raw_pattern: re.Pattern | None = None  # those names at the start of a raw header line (gunicorn < 26)


def accept_configured_token_header() -> bool:
    """At webserver start: accept the configured token header unless switched off or the token is unset."""
    try:
        from rest_api_plugin import config

        if not config.accept_legacy_token_header():
            log.info("REST API plugin: accept_legacy_token_header is off: gunicorn's header_map applies")
            return False
        if not config.token_path_configured():
            return False  # no token path (neither the legacy token nor named ones): nothing to let through
        return accept_token_header(config.token_header_name())
    except Exception:
        log.warning("REST API plugin: could not let the token header through gunicorn", exc_info=True)
        return False


def accept_token_header(header_name: str) -> bool:
    """Make gunicorn (if running in this process) keep ``header_name`` under ``header_map = drop``.

    Idempotent. True when the header now gets through (or needs no help: no "_" in its name), False
    when gunicorn is not running here or the patch was not possible (a warning says why).
    """
    name = (header_name or "").strip()
    if "_" not in name:
        return bool(name)  # gunicorn passes hyphenated names as they are
    if "gunicorn" not in sys.modules:
        return False  # not the webserver: never import gunicorn
    upper = name.upper()
    hyphenated = upper.replace("_", "-")
    if not _NAME_RE.fullmatch(name) or hyphenated in _RESERVED or hyphenated.startswith("X-FORWARDED-"):
        log.warning(
            "REST API plugin: the token header name %r cannot be let through gunicorn's header_map=drop; "
            "clients must send it as %r",
            name,
            hyphenated.lower(),
        )
        return False
    try:
        with _lock:
            how = _install()
            _remember(upper)
    except Exception as err:
        log.warning(
            "REST API plugin: could not let the token header %r through gunicorn (%s); under "
            "header_map=drop clients must send it as %r",
            name,
            err,
            hyphenated.lower(),
        )
        return False
    log.info(
        "REST API plugin: gunicorn keeps the token header %s (read as %s) under header_map=drop [%s]",
        name,
        hyphenated,
        how,
    )
    return True


def _remember(upper: str) -> None:
    global _accepted, _raw_pattern
    if upper in _accepted:
        return
    _accepted = _accepted | {upper}
    names = b"|".join(re.escape(n.encode("ascii")) for n in sorted(_accepted, key=len, reverse=True))
    # A header name starts the block or follows CRLF (a continuation line starts with a space or tab);
    # it ends at the colon, after optional blanks when gunicorn strips them (strip_header_spaces).
    _raw_pattern = re.compile(rb"(?:^|(?<=\r\n))(?:" + names + rb")(?=[ \t]*:)", re.IGNORECASE)


def _install() -> str:
    """Wrap gunicorn once; returns what was wrapped. Raises if this gunicorn is not as expected."""
    message = importlib.import_module("gunicorn.http.message")
    policy = getattr(message, "HeaderPolicy", None)
    if policy is not None and hasattr(policy, "_apply_header_policy"):  # gunicorn >= 26
        _wrap(policy, "_apply_header_policy", ["self", "name", "value"], _wrap_apply_header_policy)
        return "HeaderPolicy._apply_header_policy"
    _wrap(message.Message, "parse_headers", ["self", "data", "from_trailer"], _wrap_parse_headers)
    request = getattr(message, "Request", None)
    if hasattr(request, "_parse_fast") and importlib.util.find_spec("gunicorn_h1c") is not None:
        log.warning(
            "REST API plugin: this gunicorn's gunicorn_h1c fast parser drops the token header under "
            "header_map=drop; run gunicorn with --http-parser python or upgrade gunicorn to 26 or later"
        )
    return "Message.parse_headers"


def _wrap(cls, attr: str, leading: list[str], make) -> None:
    current = cls.__dict__.get(attr)
    if current is None:
        raise RuntimeError(f"{cls.__module__}.{cls.__qualname__}.{attr} not found")
    if getattr(current, _MARK, False):
        return
    params = list(inspect.signature(current).parameters)
    if params[: len(leading)] != leading:
        raise RuntimeError(f"unexpected signature {cls.__qualname__}.{attr}{tuple(params)}")
    wrapper = functools.wraps(current)(make(current))
    setattr(wrapper, _MARK, True)
    setattr(cls, attr, wrapper)


def _may_rename(cfg, hyphenated: str) -> bool:
    """Only under header_map=drop, and never onto a scheme header the operator configured."""
    if getattr(cfg, "header_map", None) != "drop":
        return False
    secure = getattr(cfg, "secure_scheme_headers", None) or {}
    return hyphenated not in {str(h).upper() for h in secure}


def _wrap_apply_header_policy(original):
    def _apply_header_policy(self, name, value, *args, **kwargs):
        if isinstance(name, str) and name.upper() in _accepted and not _from_trailer(args, kwargs):
            hyphenated = name.replace("_", "-")
            if _may_rename(self.cfg, hyphenated.upper()):
                name = hyphenated
        return original(self, name, value, *args, **kwargs)

    return _apply_header_policy


def _from_trailer(args: tuple, kwargs: dict) -> bool:
    # (scheme_state, seen, secure_scheme_headers, forwarder_headers, from_trailer=False)
    return bool(kwargs.get("from_trailer", args[4] if len(args) > 4 else False))


def _wrap_parse_headers(original):
    def parse_headers(self, data, from_trailer=False):
        pattern = _raw_pattern
        if pattern is not None and not from_trailer and isinstance(data, (bytes, bytearray)):
            cfg = self.cfg

            def hyphenate(match):
                raw = match.group(0)
                renamed = raw.replace(b"_", b"-")
                return renamed if _may_rename(cfg, renamed.decode("ascii").upper()) else raw

            data = pattern.sub(hyphenate, data)
        return original(self, data, from_trailer=from_trailer)

    return parse_headers
