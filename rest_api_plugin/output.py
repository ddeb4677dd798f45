"""The envelope's ``output`` in the shape the caller's clients parse.

``[rest_api_plugin] output_format`` chooses it, and a request may override it with ``output_format=``:

- ``streams`` (the default): what every released version of the original plugin answered. An endpoint the
  original ran as an ``airflow`` command (``Endpoint.cli_backed``), whether it now runs in-process or as a
  process, answers ``{"stdout": ..., "stderr": ..., "stdin": ""}``: ``stdout`` is what the command prints,
  ending with a newline as printed text does, ``stderr`` what it wrote there (empty for in-process calls).
  The plugin's own endpoints and every error answer a string.
- ``text``: one string for every endpoint (stdout, then stderr if there was any), as the original's README
  describes ``output``.
- ``streams_py3_bytes``: ``streams`` with each line framed as versions before 1.0.8 framed them on Python 3,
  ``str()`` of the line's bytes: ``b'line one\\n'b'line two\\n'``.
"""

from __future__ import annotations

from rest_api_plugin.result import Result

STREAMS, TEXT, STREAMS_PY3_BYTES = "streams", "text", "streams_py3_bytes"


def as_text(result: Result) -> str:
    """The one-string answer: stdout, then stderr when the command wrote anything there."""
    if not result.stderr:
        return result.output
    return "\n".join(part for part in (result.output, result.stderr) if part)


def as_printed(text: str) -> str:
    """Text as a command prints it: ending with a newline unless empty."""
    return text if not text or text.endswith("\n") else text + "\n"


def as_py3_bytes(text: str) -> str:
    """``str(line)`` of each line read as bytes, concatenated (plugin versions before 1.0.8 on Python 3)."""
    return "".join(str(line.encode("utf-8")) for line in text.splitlines(keepends=True))


def shape(result: Result, cli_backed: bool, output_format: str):
    """``output`` for a successful call in ``output_format``."""
    if output_format == TEXT or not cli_backed:
        return as_text(result)
    stdout = as_printed(result.stdout if result.stdout is not None else result.output)
    stderr = as_printed(result.stderr)
    if output_format == STREAMS_PY3_BYTES:
        stdout, stderr = as_py3_bytes(stdout), as_py3_bytes(stderr)
    return {"stdout": stdout, "stderr": stderr, "stdin": ""}


def plain_table(rows: list[dict], columns) -> str:
    """Rows as ``airflow ... --output plain`` prints them: a header line, then the rows, each column
    left-aligned and two spaces from the next (None is empty; a cell of several lines makes its row as high);
    no row, no table."""
    if not rows:
        return ""
    table = [[[name] for name in columns]]
    table += [
        [("" if row.get(name) is None else str(row[name])).splitlines() or [""] for name in columns] for row in rows
    ]
    widths = [max(len(line) for row in table for line in row[i]) for i in range(len(columns))]
    printed = []
    for row in table:
        for n in range(max(len(cell) for cell in row)):
            cells = [(cell[n] if n < len(cell) else "").ljust(width) for cell, width in zip(row, widths)]
            printed.append("  ".join(cells).rstrip())
    return "\n".join(printed)
