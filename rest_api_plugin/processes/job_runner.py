"""The small parent of every background job: runs the command, streams its output into the metadata database,
writes the job's heartbeat, acts on stop requests and records how the job ended.

    python -m rest_api_plugin.processes.job_runner JOB_ID HEARTBEAT GRACE MAX_BYTES -- ARGV...

The database URL comes in the environment (``REST_API_PLUGIN_JOB_DATABASE``, a secret: never in argv, and not
passed on to the command). The runner works with the job's row in ``rest_api_plugin_job`` (see
``job_tables``), which the server inserted before starting it:

- it records its host and pid, and writes a heartbeat every ``HEARTBEAT`` seconds: while it is fresh the job
  is ``running``, on every server; once stale, ``lost``;
- it reads the command's stdout and stderr through two pipes, kept apart, and a writer thread stores them in
  ``rest_api_plugin_job_output`` in batches (every half second, or 64 KiB), so the command never waits on the
  database. Each stream keeps its first and its last quarter of ``MAX_BYTES``; what lies between is cut, and
  counted in the job's row (shown as "... N bytes cut ...");
- about every second it looks for a stop request (``stop_job``, from any server): then SIGTERM to the
  command's process group, and SIGKILL after ``GRACE`` seconds;
- when the command ends, its exit code, or the signal that killed it, goes into the job's row.

The runner is started in a session of its own, so a job runs on when its server dies. The command leads a
process group of its own (what a stop signals) and, on Linux, is killed if the runner is (SIGKILL of the
runner: the job is then ``lost``). Signals sent to the runner (SIGTERM, SIGINT, SIGHUP) are passed on to the
command, and the runner stays to record its end (one that came before the command started: the command is not
started, and the job ends killed). Only SQLAlchemy and the standard library are imported:
this starts fast and works without Airflow.
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

import sqlalchemy as sa

from rest_api_plugin.processes import job_tables
from rest_api_plugin.processes.job_tables import CHUNK_BYTES, job, job_output

CAUGHT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STREAMS = ("stdout", "stderr")
FLUSH_SECONDS = 0.5
STOP_POLL_SECONDS = 1.0
READERS_AFTER_EXIT_SECONDS = 5  # a descendant may hold the pipes open: read on that long after the command ended
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_child_group: list[int] = []  # the command's process group, once started (for the signal handler)
_early_signals: list[int] = []  # signals the runner got before the command started
_passed_on: list[int] = []  # signals passed on to the running command: a stop, with stop_job's grace

USAGE = "usage: python -m rest_api_plugin.processes.job_runner JOB_ID HEARTBEAT GRACE MAX_BYTES -- ARGV..."


class Output:
    """The command's output on its way to the database: per stream, the first ``max_bytes // 4`` bytes (the
    head) and a rolling tail of as many; pieces that fall out of the tail before or after they are stored are
    counted as cut. ``add`` (the reader threads) never waits on the database; ``flush`` (the writer) does."""

    def __init__(self, engine: sa.engine.Engine, job_id: str, max_bytes: int):
        self.engine, self.job_id = engine, job_id
        self.budget = max(1024, max_bytes // 4)
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.head_left = dict.fromkeys(STREAMS, self.budget)
        self.head = {stream: bytearray() for stream in STREAMS}
        self.tail = {stream: collections.deque() for stream in STREAMS}
        self.tail_bytes = dict.fromkeys(STREAMS, 0)
        self.cut = dict.fromkeys(STREAMS, 0)
        self.drop_stored_tail = dict.fromkeys(STREAMS, False)
        self.stored_tail = {stream: collections.deque() for stream in STREAMS}  # (row id, size), oldest first
        self.written_cut = dict(self.cut)
        self.closed = False
        self.writer = threading.Thread(target=self._write, name="job-output-writer", daemon=True)

    def start(self) -> None:
        """Start the writer: after the command was forked, so that no thread of the runner holds a lock then."""
        self.writer.start()

    def add(self, stream: str, data: bytes) -> None:
        with self.lock:
            left = self.head_left[stream]
            if left:
                self.head[stream] += data[:left]
                self.head_left[stream] -= len(data[:left])
                data = data[left:]
            if data:
                tail = self.tail[stream]
                tail.append(bytes(data))
                self.tail_bytes[stream] += len(data)
                excess = self.tail_bytes[stream] - self.budget
                if excess > 0:
                    while excess >= len(tail[0]):
                        excess -= len(tail[0])
                        self.tail_bytes[stream] -= len(tail[0])
                        self.cut[stream] += len(tail.popleft())
                    if excess:
                        tail[0] = tail[0][excess:]
                        self.tail_bytes[stream] -= excess
                        self.cut[stream] += excess
                    self.drop_stored_tail[stream] = True  # what is stored is older still: it goes too
            if sum(map(len, self.head.values())) + sum(self.tail_bytes.values()) >= CHUNK_BYTES:
                self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()
        if self.writer.is_alive():
            self.writer.join()
        for _ in range(30):
            try:
                self.flush()
                return
            except sa.exc.SQLAlchemyError:
                time.sleep(1)

    def _write(self) -> None:
        while not self.closed:
            self.ready.wait(FLUSH_SECONDS)
            self.ready.clear()
            try:
                self.flush()
            except sa.exc.SQLAlchemyError:
                time.sleep(FLUSH_SECONDS)  # the database is away: what waits stays bounded, try again

    def flush(self) -> None:
        with self.lock:
            heads = {stream: bytes(self.head[stream]) for stream in STREAMS}
            tails = {stream: b"".join(self.tail[stream]) for stream in STREAMS}
            drop = dict(self.drop_stored_tail)
            cut = dict(self.cut)
            for stream in STREAMS:
                self.head[stream].clear()
                self.tail[stream].clear()
                self.tail_bytes[stream] = 0
                self.drop_stored_tail[stream] = False
        if not any(heads.values()) and not any(tails.values()) and cut == self.written_cut:
            return
        try:
            removed = self._store(heads, tails, drop, cut)
        except sa.exc.SQLAlchemyError:
            with self.lock:  # nothing was stored: put it back in front of what came meanwhile
                for stream in STREAMS:
                    self.head[stream][:0] = heads[stream]
                    if tails[stream]:
                        self.tail[stream].appendleft(tails[stream])
                        self.tail_bytes[stream] += len(tails[stream])
                    self.drop_stored_tail[stream] = self.drop_stored_tail[stream] or drop[stream]
            raise
        with self.lock:
            for stream in STREAMS:
                self.cut[stream] += removed[stream]
                cut[stream] += removed[stream]
        self.written_cut = cut

    def _store(self, heads: dict, tails: dict, drop: dict, cut: dict) -> dict:
        """One transaction: the new rows, the tail rows that fell out of the tail deleted, the cut counted in
        the job's row. Returns the bytes deleted per stream."""
        removed_bytes = dict.fromkeys(STREAMS, 0)
        stored = {}
        with self.engine.begin() as connection:
            for stream in STREAMS:
                kept = [] if drop[stream] else list(self.stored_tail[stream])
                removed = list(self.stored_tail[stream]) if drop[stream] else []
                for part, data in (("head", heads[stream]), ("tail", tails[stream])):
                    for start in range(0, len(data), CHUNK_BYTES):
                        piece = data[start : start + CHUNK_BYTES]
                        row_id = connection.execute(
                            job_output.insert().values(job_id=self.job_id, stream=stream, part=part, data=piece)
                        ).inserted_primary_key[0]
                        if part == "tail":
                            kept.append((row_id, len(piece)))
                total = sum(size for _, size in kept)
                while total > self.budget and len(kept) > 1:
                    removed.append(kept.pop(0))
                    total -= removed[-1][1]
                if removed:
                    connection.execute(job_output.delete().where(job_output.c.id.in_([i for i, _ in removed])))
                removed_bytes[stream] = sum(size for _, size in removed)
                stored[stream] = collections.deque(kept)
            connection.execute(
                job.update()
                .where(job.c.job_id == self.job_id)
                .values(
                    stdout_cut_bytes=cut["stdout"] + removed_bytes["stdout"],
                    stderr_cut_bytes=cut["stderr"] + removed_bytes["stderr"],
                )
            )
        self.stored_tail = stored
        return removed_bytes


def _own_group_dying_with_runner() -> None:
    """In the command, before it runs: lead a process group of its own (what a stop signals) and, on Linux,
    get SIGKILL when the runner dies."""
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _pass_on(number, frame) -> None:
    """The runner was signalled: the command gets the signal and, as for a stop, SIGKILL after the grace if it
    is still there; the runner stays alive to record its end. Before the command started, the signal is kept:
    the command is then not started, or signalled once it is."""
    if _child_group:
        _signal_group(_child_group[0], number)
        _passed_on.append(number)
    else:
        _early_signals.append(number)


def _signal_group(pgid: int, number: int) -> bool:
    try:
        os.killpg(pgid, number)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class Runner:
    def __init__(self, engine: sa.engine.Engine, job_id: str, heartbeat: float, grace: float, max_bytes: int):
        self.engine, self.job_id = engine, job_id
        self.heartbeat, self.grace = heartbeat, grace
        self.output = Output(engine, job_id, max_bytes)

    def run(self, command: list[str]) -> None:
        self._update(host=socket.gethostname(), pid=os.getpid(), heartbeat_at=time.time())
        environment = {name: value for name, value in os.environ.items() if name != job_tables.DATABASE_ENVIRONMENT}
        if _early_signals:  # stopped before it started: the command never runs, and the job ends killed
            self._record_end(-_early_signals[0])
            return
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environment,
                preexec_fn=_own_group_dying_with_runner,
            )  # noqa: PLW1509 - no thread yet
        except OSError as err:
            self.output.start()
            self.output.add("stderr", f"Could not start {command[0]}: {err}\n".encode())
            returncode = 127
        else:
            self.output.start()
            _child_group.append(child.pid)
            if _early_signals:  # one came while the command was being started
                _signal_group(child.pid, _early_signals[0])
                _passed_on.append(_early_signals[0])
            readers = [
                threading.Thread(target=self._read, args=(pipe, stream), daemon=True)
                for pipe, stream in ((child.stdout, "stdout"), (child.stderr, "stderr"))
            ]
            for reader in readers:
                reader.start()
            returncode = self._supervise(child)
            deadline = time.monotonic() + READERS_AFTER_EXIT_SECONDS
            for reader in readers:
                reader.join(max(0.0, deadline - time.monotonic()))
        self.output.close()
        self._record_end(returncode)

    def _read(self, pipe, stream: str) -> None:
        descriptor = pipe.fileno()
        while True:
            data = os.read(descriptor, CHUNK_BYTES)
            if not data:
                return
            self.output.add(stream, data)

    def _supervise(self, child: subprocess.Popen) -> int:
        """Wait for the command, beating the heart and looking for a stop request; its return code."""
        next_heartbeat = time.monotonic() + self.heartbeat
        next_poll = time.monotonic() + STOP_POLL_SECONDS
        stopping_since = None
        killed = False
        while True:
            try:
                returncode = child.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if stopping_since is None and _passed_on:  # the runner was signalled: the grace runs from now
                stopping_since = now
            if stopping_since is None and now >= next_poll:
                next_poll = now + STOP_POLL_SECONDS
                if self._stop_requested():
                    stopping_since = now
                    _signal_group(child.pid, signal.SIGTERM)
            if stopping_since is not None and not killed and now - stopping_since >= self.grace:
                killed = True
                _signal_group(child.pid, signal.SIGKILL)
            if now >= next_heartbeat:
                next_heartbeat = now + self.heartbeat
                self._beat()
        if stopping_since is not None:  # what is left of the stopped command's group: the rest of its grace
            while _signal_group(child.pid, 0) and time.monotonic() - stopping_since < self.grace:
                time.sleep(0.1)
            _signal_group(child.pid, signal.SIGKILL)
        return returncode

    def _stop_requested(self) -> bool:
        try:
            with self.engine.connect() as connection:
                return (
                    connection.execute(sa.select(job.c.stop_requested_at).where(job.c.job_id == self.job_id)).scalar()
                    is not None
                )
        except sa.exc.SQLAlchemyError:
            return False

    def _beat(self) -> None:
        try:
            self._update(heartbeat_at=time.time())
        except sa.exc.SQLAlchemyError:
            pass  # the database is away: the job looks lost until it is back

    def _update(self, **values) -> None:
        with self.engine.begin() as connection:
            connection.execute(job.update().where(job.c.job_id == self.job_id).values(**values))

    def _record_end(self, returncode: int) -> None:
        for _ in range(60):
            try:
                self._update(**job_tables.end_fields(returncode), heartbeat_at=time.time())
                return
            except sa.exc.SQLAlchemyError:
                time.sleep(1)


def main(arguments: list[str]) -> int:
    if len(arguments) < 6 or arguments[4] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    url = os.environ.get(job_tables.DATABASE_ENVIRONMENT)
    if not url:
        print(f"{job_tables.DATABASE_ENVIRONMENT} is not set", file=sys.stderr)
        return 2
    job_id, heartbeat, grace, max_bytes, command = (
        arguments[0],
        float(arguments[1]),
        float(arguments[2]),
        int(arguments[3]),
        arguments[5:],
    )
    for number in CAUGHT_SIGNALS:
        signal.signal(number, _pass_on)
    engine = job_tables.engine_for(url)
    runner = Runner(engine, job_id, heartbeat, grace, max_bytes)
    try:
        runner.run(command)
    except Exception:  # the runner itself failed: say so in the job's stderr, as far as the database allows
        runner.output.add("stderr", f"The job's runner failed:\n{traceback.format_exc()}".encode())
        runner.output.close()
        runner._record_end(126)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
