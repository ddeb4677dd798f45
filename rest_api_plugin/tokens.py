"""Named tokens: several old clients on one deployment, each with its own secret, scope and answer shape.

The document comes from ``[rest_api_plugin] tokens_file`` (a path) or ``[rest_api_plugin] tokens`` (the JSON
itself) and maps names to entries::

    {"sky": {"sha256": "<hex digest of the secret>", "grants": "dag_state,trigger_dag",
             "output_format": "streams_py3_bytes", "dag_ids": ["sky_*"], "expires": "2027-03-31T00:00:00Z"}}

The legacy single token (``rest_api_plugin_expected_http_token``) is the entry named ``token``, with the
deployment's settings; its caller is ``token``, a named one's ``token:<name>`` (audit log, job owner).

- Matching: the presented value is hashed once (SHA-256) and compared with every configured digest by
  ``hmac.compare_digest``, all of them whatever matched first, so no entry's secret leaks by timing.
- A token header sent more than once (any spelling, any letter case; gunicorn joins repeated values with
  ",") is refused with 400, whatever the values.
- ``tokens_file`` is looked at (modification time, size, inode) at most once a second and read again when it
  changed: a rotation needs no restart.
- A bad document fails closed: each problem is logged once (per change), naming the entry, and the whole token
  path, the legacy token included, is off (403 saying the configuration is invalid) until it is fixed.
  Airflow users are not affected.

``python -m rest_api_plugin.tokens new NAME [--grants ...]`` makes a secret and prints its entry.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from rest_api_plugin import config, registry, security
from rest_api_plugin.errors import BadRequest, Forbidden

log = logging.getLogger(__name__)

LEGACY_NAME = "token"  # the legacy token's entry, and its caller's name
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEYS = ("token", "sha256", "grants", "output_format", "time_format", "strict_arguments", "dag_ids", "expires")
SECRET_MIN_LENGTH = 16
# A secret travels in a header: visible ASCII, and no "," (gunicorn joins a repeated header's values with one)
SECRET = re.compile(r"^[!-+\--~]+$")
SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")
# A DAG id (Airflow's KEY_REGEX) with glob characters: * ? [ ] !
DAG_PATTERN = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]+$")
GRANT_WORDS = ("all", "read")
RECHECK_SECONDS = 1.0  # how often tokens_file's modification time is looked at, at most

INVALID = (
    "Token Authentication Failed: the token configuration is invalid, so no token is accepted "
    "(the webserver log names the problem)"
)
EXPIRED = "Token expired"
SENT_TWICE = (
    "The token header was sent more than once (in one spelling or several: underscores, hyphens, "
    "any letter case): send it once"
)


@dataclass(frozen=True)
class Token:
    """One configured token: its secrets' digests, what it may call, its DAGs and its answer shape. None means
    the deployment's setting (``grants``: ``token_grants``), or every DAG (``dag_ids``)."""

    name: str
    digests: tuple[bytes, ...]
    grants: tuple[str, ...] | None = None
    output_format: str | None = None
    time_format: str | None = None
    strict_arguments: bool | None = None
    dag_ids: tuple[str, ...] | None = None
    expires: datetime | None = None

    @property
    def caller(self) -> str:
        """Who the token is in the audit log, as a job's owner and in the webserver log."""
        return LEGACY_NAME if self.name == LEGACY_NAME else f"token:{self.name}"

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and (now or datetime.now(timezone.utc)) >= self.expires


@dataclass(frozen=True)
class Configuration:
    """The tokens in force, or (``problems``) why there are none."""

    tokens: tuple[Token, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        """Whether a token path is configured at all (valid or not)."""
        return bool(self.tokens or self.problems)

    def match(self, presented: str) -> Token | None:
        """The token whose secret was presented. One digest of the presented value, compared with every
        configured digest: the time taken does not depend on which entry, if any, matched."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found = None
        for token in self.tokens:
            for expected in token.digests:
                if hmac.compare_digest(digest, expected) and found is None:
                    found = token
        return None if self.problems else found


class TokenExpired(Forbidden):
    """A token presented after its ``expires``: 403, and the webserver log names it."""

    def __init__(self, token: Token):
        super().__init__(EXPIRED)
        self.caller = token.caller


class TokenSentTwice(BadRequest):
    """The token header came more than once: 400, whatever the values."""

    def __init__(self):
        super().__init__(SENT_TWICE)


# --- who is calling ---


def authenticate(request) -> security.Identity:
    """The caller: the token the header matches, else an Airflow user (``security.authenticate_user``)."""
    configuration = current()
    presented = presented_value(request)
    token = configuration.match(presented) if presented is not None else None
    if token is None and presented is not None and "," in presented:
        raise TokenSentTwice()  # gunicorn (Airflow 2) joined several values into one
    if token is not None:
        if token.expired():
            raise TokenExpired(token)
        return identity_of(token)
    refusal = (security.TOKEN_FAILED if configuration.tokens else INVALID) if configuration.configured else None
    return security.authenticate_user(request, token_refusal=refusal)


def presented_value(request) -> str | None:
    """The token header's one value, or None; 400 when it came more than once (two headers of any spelling)."""
    values = request.header_values(config.token_header_name())
    if len(values) > 1:
        raise TokenSentTwice()
    return values[0] if values else None


def identity_of(token: Token) -> security.Identity:
    return security.Identity(kind="token", name=token.caller, token=token)


# --- the configuration in force ---


def check_at_start() -> None:
    """At webserver (API server) start: read the configuration now, so that its problems are logged at once."""
    try:
        current()
    except Exception:
        log.exception("REST API plugin: could not read the token configuration")


def current() -> Configuration:
    """The named tokens (``tokens_file`` read again when it changed) and the legacy token."""
    return _with_legacy(_named(), config.expected_token())


class _Cache:
    """What was read last, and when ``tokens_file`` was last looked at (one per process)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.value = Configuration()
        self.path = None
        self.stat_key: tuple | None = None
        self.checked_at = float("-inf")
        self.combined: tuple | None = None  # (named, legacy secret, result)


_cache = _Cache()


def _named() -> Configuration:
    inline, path = config.tokens_inline(), config.tokens_file()
    if inline is not None and path is not None:
        key = ("both", inline, str(path))
    elif inline is not None:
        key = ("inline", inline)
    elif path is not None:
        key = ("file", str(path), _file_state(path))
    else:
        key = None
    with _cache.lock:
        if key != _cache.key:
            _cache.key, _cache.value = key, _load(key)
        return _cache.value


def _file_state(path) -> tuple:
    """The file's modification time, size and inode, looked at no more than once every RECHECK_SECONDS."""
    now = time.monotonic()
    with _cache.lock:
        if _cache.path == path and now - _cache.checked_at < RECHECK_SECONDS:
            return _cache.stat_key
    try:
        stat = os.stat(path)
        state = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except OSError as err:
        state = ("unreadable", err.strerror)
    with _cache.lock:
        _cache.path, _cache.stat_key, _cache.checked_at = path, state, now
    return state


def _load(key: tuple | None) -> Configuration:
    if key is None:
        return Configuration()
    if key[0] == "both":
        configuration = Configuration(problems=("both [rest_api_plugin] tokens and tokens_file are set: set one",))
    elif key[0] == "inline":
        configuration = parse(key[1])
    else:
        configuration = _read_file(key[1])
    source = "[rest_api_plugin] tokens" if key[0] == "inline" else f"tokens_file {key[1]}"
    _log(configuration, source)
    return configuration


def _read_file(path: str) -> Configuration:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        return Configuration(problems=(f"cannot read the file: {err}",))
    return parse(text)


def _log(configuration: Configuration, source: str) -> None:
    for problem in configuration.problems:
        log.error(
            "REST API plugin: the token configuration (%s) is invalid, so no token is accepted: %s", source, problem
        )
    if not configuration.problems:
        names = ", ".join(token.name for token in configuration.tokens) or "none"
        log.info("REST API plugin: named tokens from %s: %s", source, names)


def _with_legacy(named: Configuration, legacy: str | None) -> Configuration:
    """The named tokens and the legacy one, computed again only when either changed."""
    combined = _cache.combined
    if combined is not None and combined[0] is named and combined[1] == legacy:
        return combined[2]
    result = named
    if legacy and not named.problems:
        token = Token(name=LEGACY_NAME, digests=(digest_of(legacy),))
        same = [other.name for other in named.tokens if token.digests[0] in other.digests]
        if same:
            result = Configuration(
                problems=(
                    f"entry {same[0]!r} has the legacy token's secret "
                    "(rest_api_plugin_expected_http_token): give it its own",
                )
            )
            _log(result, "rest_api_plugin_expected_http_token")
        else:
            result = Configuration(tokens=(*named.tokens, token))
    _cache.combined = (named, legacy, result)
    return result


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


# --- reading the document ---


def parse(text: str) -> Configuration:
    """The tokens a JSON document defines, or every problem found in it."""
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except ValueError as err:
        return Configuration(problems=(f"not valid JSON: {err}",))
    if not isinstance(document, dict):
        return Configuration(problems=("the document must be a JSON object mapping names to entries",))
    tokens, problems = [], []
    for name, entry in document.items():
        token, found = parse_entry(name, entry)
        problems += found
        if token is not None:
            tokens.append(token)
    problems += _shared_secrets(tokens)
    return Configuration(problems=tuple(problems)) if problems else Configuration(tokens=tuple(tokens))


def _refuse_duplicate_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"the key {twice[0]!r} appears twice in one object")
    return dict(pairs)


def _shared_secrets(tokens: list[Token]) -> list[str]:
    owners: dict[bytes, str] = {}
    problems = []
    for token in tokens:
        for digest in token.digests:
            if digest in owners and owners[digest] != token.name:
                problems.append(f"entries {owners[digest]!r} and {token.name!r} have the same secret")
            owners.setdefault(digest, token.name)
    return problems


def parse_entry(name: str, entry) -> tuple[Token | None, list[str]]:
    """One entry as a Token, or the problems found in it (each naming the entry)."""
    where = f"entry {name!r}"
    if not NAME.match(name):
        return None, [f"{where}: a name is 1 to 64 letters, digits, '_', '.' or '-' (starting with a letter or digit)"]
    if name == LEGACY_NAME:
        return None, [
            f"{where}: the name {LEGACY_NAME!r} is the legacy token's "
            "(rest_api_plugin_expected_http_token): choose another"
        ]
    if not isinstance(entry, dict):
        return None, [f"{where}: must be a JSON object"]
    problems = [f"{where}: unknown key {key!r} (known: {', '.join(KEYS)})" for key in entry if key not in KEYS]
    values = {}
    for key, read in READERS.items():
        if key in entry:
            try:
                values[key] = read(entry[key])
            except ValueError as err:
                problems.append(f"{where}: {key}: {err}")
    digests = (
        *(digest_of(secret) for secret in values.get("token", ())),
        *(bytes.fromhex(digest) for digest in values.get("sha256", ())),
    )
    if not digests and not any(key in entry for key in ("token", "sha256")):
        problems.append(f"{where}: no secret: give token (the secret) or sha256 (its hex digest)")
    elif not digests and not problems:
        problems.append(f"{where}: no secret: token and sha256 are empty")
    if problems:
        return None, problems
    return Token(
        name=name, digests=digests, **{key: value for key, value in values.items() if key not in ("token", "sha256")}
    ), []


def _strings(value, what: str) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"must be {what} or a list of them")
    return tuple(items)


def read_secrets(value) -> tuple[str, ...]:
    found = _strings(value, "a secret")
    for secret in found:
        if len(secret) < SECRET_MIN_LENGTH:
            raise ValueError(
                f"a secret must be at least {SECRET_MIN_LENGTH} characters long "
                "(python -m rest_api_plugin.tokens new NAME makes one)"
            )
        if not SECRET.match(secret):
            raise ValueError("a secret is visible ASCII characters, without spaces or commas")
    return found


def read_digests(value) -> tuple[str, ...]:
    found = _strings(value, "a hex SHA-256 digest")
    for digest in found:
        if not SHA256.match(digest):
            raise ValueError(f"{digest[:70]!r} is not a SHA-256 digest in hex (64 characters 0-9, a-f)")
    return found


def read_grants(value) -> tuple[str, ...]:
    """``all``, ``read`` or endpoint names: a comma list in one string (as ``token_grants``) or a JSON list."""
    items = value.split(",") if isinstance(value, str) else _strings(value, "a grant")
    grants = tuple(item.strip() for item in items if item.strip())
    if not grants:
        raise ValueError("no grant: give all, read or endpoint names")
    unknown = [grant for grant in grants if grant not in GRANT_WORDS and grant not in registry.BY_NAME]
    if unknown:
        raise ValueError(
            f"unknown grant {', '.join(map(repr, unknown))}: all, read or endpoint names "
            f"({', '.join(sorted(registry.BY_NAME))})"
        )
    return grants


def _choice(choices: tuple[str, ...]):
    def read(value) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return read


def read_flag(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false (JSON booleans)")
    return value


def read_dag_ids(value) -> tuple[str, ...]:
    patterns = _strings(value, "a DAG id or glob pattern")
    for pattern in patterns:
        if not DAG_PATTERN.match(pattern):
            raise ValueError(f"{pattern[:70]!r} is not a DAG id or glob pattern (letters, digits, _ . - and * ? [ ] !)")
    return patterns


def read_expires(value) -> datetime:
    """An ISO 8601 time (``2027-03-31T00:00:00Z``) or date (midnight); without an offset, UTC."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time as a string, e.g. 2027-03-31T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value[:70]!r} is not an ISO 8601 time, e.g. 2027-03-31T00:00:00Z") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


READERS = {
    "token": read_secrets,
    "sha256": read_digests,
    "grants": read_grants,
    "output_format": _choice(config.OUTPUT_FORMATS),
    "time_format": _choice(config.TIME_FORMATS),
    "strict_arguments": read_flag,
    "dag_ids": read_dag_ids,
    "expires": read_expires,
}


# --- python -m rest_api_plugin.tokens new NAME ---


def new_entry(
    name: str,
    grants: str | None = None,
    dag_ids: list[str] | None = None,
    expires: str | None = None,
    output_format: str | None = None,
    time_format: str | None = None,
) -> tuple[str, dict]:
    """A random secret and the entry that names it by its digest; ValueError if the entry would be invalid."""
    secret = secrets.token_urlsafe(32)
    entry = {"sha256": hashlib.sha256(secret.encode("utf-8")).hexdigest()}
    optional = {
        "grants": grants,
        "dag_ids": dag_ids,
        "expires": expires,
        "output_format": output_format,
        "time_format": time_format,
    }
    entry.update({key: value for key, value in optional.items() if value})
    _, problems = parse_entry(name, entry)
    if problems:
        raise ValueError("; ".join(problems))
    return secret, entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rest_api_plugin.tokens", description="Make a named token for the REST API plugin."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="print a random secret (once) and its entry for the tokens document")
    new.add_argument("name")
    new.add_argument("--grants", help="all, read, or endpoint names separated by commas (default: token_grants)")
    new.add_argument("--dag-ids", nargs="+", metavar="DAG_ID", help="DAG ids or glob patterns (default: every DAG)")
    new.add_argument("--expires", help="an ISO 8601 time, e.g. 2027-03-31T00:00:00Z")
    new.add_argument("--output-format", choices=config.OUTPUT_FORMATS)
    new.add_argument("--time-format", choices=config.TIME_FORMATS)
    options = parser.parse_args(argv)
    try:
        secret, entry = new_entry(
            options.name, options.grants, options.dag_ids, options.expires, options.output_format, options.time_format
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"secret (shown this once; give it to the client, keep no copy): {secret}")
    print("entry for the tokens document (tokens_file or [rest_api_plugin] tokens):")
    print(f"{json.dumps(options.name)}: {json.dumps(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
