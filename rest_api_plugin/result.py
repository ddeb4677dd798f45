"""What a handler returns, and the context it is called with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """A handler's answer: ``output`` is what the CLI would print on stdout, ``data`` the structured result.

    ``stderr`` is what a command run as a process wrote to its stderr (empty for in-process handlers);
    ``stdout``, when set, is what the Airflow 1 command printed where that differs from ``output`` (the
    ``streams`` output formats show it: ``dag_state`` printed the bare state).
    """

    output: str
    data: Any = None
    warning: str | None = None
    http_status: int = 200
    stderr: str = ""
    stdout: str | None = None


@dataclass
class CallContext:
    """Who is calling, and what else came with the request (uploaded files)."""

    identity: Any
    files: dict = field(default_factory=dict)
