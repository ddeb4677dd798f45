"""The small parent of every background job: runs the command, waits, records how it ended.

    python -m rest_api_plugin.job_runner JOB_DIR JOB_ID -- ARGV...

The command inherits this process's stdout and stderr: the job's ``.out`` and ``.err`` files, kept apart
(a failure to start the command is written to stderr). When the command ends, its exit code,
or the signal that killed it, is written to ``JOB_DIR/JOB_ID.exit`` (atomically), so a job's end is known
even if no web worker was watching. The runner leads the job's process group (it is started in a new
session): stopping the job signals the whole group; the runner itself outlives SIGTERM/SIGINT/SIGHUP to
write the record. Only the standard library is imported: this starts fast and works without Airflow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

CAUGHT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_record(returncode: int) -> dict:
    record = {"exit_code": returncode, "signal": None, "signal_name": None}
    if returncode < 0:
        number = -returncode
        record.update(exit_code=None, signal=number, signal_name=_signal_name(number))
    record["ended_at"] = datetime.now(timezone.utc).isoformat()
    return record


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def write_json(path: str, record: dict) -> None:
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as handle:
        json.dump(record, handle)
    os.replace(temporary, path)


def _note_signal(number, frame) -> None:
    """The group was signalled: the command got the signal too; stay alive to record its end."""


def main(arguments: list[str]) -> int:
    if len(arguments) < 4 or arguments[2] != "--":
        print("usage: python -m rest_api_plugin.job_runner JOB_DIR JOB_ID -- ARGV...", file=sys.stderr)
        return 2
    job_dir, job_id, command = arguments[0], arguments[1], arguments[3:]
    for number in CAUGHT_SIGNALS:
        signal.signal(number, _note_signal)  # a handler, not SIG_IGN: the command gets default handlers
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as err:
        print(f"Could not start {command[0]}: {err}", file=sys.stderr, flush=True)
        returncode = 127
    else:
        while True:
            try:
                returncode = child.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries wait() itself
                continue
    write_json(os.path.join(job_dir, f"{job_id}.exit"), exit_record(returncode))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
