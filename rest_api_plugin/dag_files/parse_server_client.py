"""The web worker's side of the parse server (``parse_server.py``): where it lives, starting it when none
runs, and one phase through it within the caller's deadline.

One server per host and environment. Its directory, under the temporary folder, is named by a hash of the
user, AIRFLOW_HOME, the interpreter, the working directory, the child's environment (the names of the secrets
it randomizes, not their values), airflow.cfg's identity and the plugin's parsing code, so that a changed
environment, configuration or plugin gets a server of its own. The directory must be this user's, mode 0700
(checked: otherwise the server is not used). Every worker, gunicorn's processes and uvicorn's threads alike,
connects to the one socket there. Who starts the server takes DIRECTORY/lock (an flock) and hands it to the
server, which holds it for its life: whoever finds the lock free starts one, the others wait for the socket
to accept. A socket file nobody accepts on is a dead server's: the next start replaces it.

Anything that keeps the server from taking a phase, before the phase started, raises Unavailable: the
caller then runs the phase in a fresh process (``parsing``). Once the child has its request, the
outcome is the phase's, reported as ``Ended`` like a fresh process's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from rest_api_plugin.dag_files.parse_server import LOCK_NAME, LOG_NAME, SOCKET_NAME, encode

log = logging.getLogger(__name__)

# -P (Python 3.11+): the working directory is not put on sys.path, so no file there can shadow a module.
PROGRAM = [
    sys.executable,
    *(["-P"] if sys.version_info >= (3, 11) else []),
    "-m",
    "rest_api_plugin.dag_files.parse_server",
]
START_SECONDS = 30  # an Airflow import (2 to 3 s) on a busy machine
HELLO_SECONDS = 10  # from connecting to the child's pid: one fork
REPORT_GRACE_SECONDS = 5  # after the report, for the server's word that the child's process group is gone
RETRY_START_AFTER = 60  # a server that failed to start is not tried again for this long (fresh processes meanwhile)
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL
DIRECTORY_PREFIX = "rest-api-plugin-parse-"


class Unavailable(Exception):
    """The parse server cannot take this phase, and nothing of the phase ran: run it in a fresh process."""


@dataclass(frozen=True)
class Ended:
    """How a phase's process ended, whichever way it ran: its report (None when it gave none), its exit code
    (for a child of the server that reported, the code it reported; None when nobody knows) and whether it
    was stopped at its deadline."""

    pid: int
    returncode: int | None
    report: object = None
    timed_out: bool = False


@dataclass(frozen=True)
class Place:
    """The private directory of one server: its socket, its lock and its log."""

    directory: str

    @property
    def socket(self) -> str:
        return os.path.join(self.directory, SOCKET_NAME)

    @property
    def lock(self) -> str:
        return os.path.join(self.directory, LOCK_NAME)

    @property
    def log(self) -> str:
        return os.path.join(self.directory, LOG_NAME)


class Servers:
    """The servers this process started (to reap them, and to retire one when the environment changes: a
    process keeps at most one), the places whose server failed to start, and the last server that answered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.owner = os.getpid()
        self.started: dict[str, subprocess.Popen] = {}
        self.retired: list[subprocess.Popen] = []
        self.failed_until: dict[str, float] = {}
        self.last_server: int | None = None

    def mine(self) -> None:
        """A forked process (a gunicorn worker of a --preload master) does not own its parent's servers."""
        if self.owner != os.getpid():
            self.owner, self.started, self.retired, self.failed_until = os.getpid(), {}, [], {}

    def add(self, place: Place, process: subprocess.Popen) -> None:
        with self.lock:
            self.mine()
            for directory, other in list(self.started.items()):
                if directory != place.directory:
                    del self.started[directory]
                    if other.poll() is None:
                        other.terminate()  # it drains its running children and exits
                        self.retired.append(other)
            self.retired = [other for other in self.retired if other.poll() is None]
            self.started[place.directory] = process

    def failed(self, place: Place) -> None:
        with self.lock:
            self.failed_until[place.directory] = time.monotonic() + RETRY_START_AFTER

    def may_start(self, place: Place) -> bool:
        with self.lock:
            self.mine()
            return self.failed_until.get(place.directory, 0) <= time.monotonic()


SERVERS = Servers()


def last_server() -> int | None:
    """The pid of the parse server that ran this process's last phase (for tests and logs)."""
    return SERVERS.last_server


def unsupported() -> str | None:
    """Why this platform cannot run the parse server; None when it can."""
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX") or not hasattr(socket, "send_fds"):
        return "this platform has no fork, Unix sockets or descriptor passing"
    return None


# --- where the server lives ---


def place_of(env: dict[str, str]) -> Place:
    """The private directory of the server for ``env`` (created if missing); Unavailable when no safe one."""
    from rest_api_plugin.processes.commands import webserver_secret_variables

    randomized = set(webserver_secret_variables())
    home = env.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    config_file = os.path.expanduser(env.get("AIRFLOW_CONFIG") or os.path.join(home, "airflow.cfg"))
    identity = {
        "uid": os.getuid(),
        "airflow_home": home,
        "python": sys.executable,
        "cwd": working_directory(),
        "environment": {name: None if name in randomized else value for name, value in sorted(env.items())},
        "config": file_identity(config_file),
        "code": [file_identity(path) for path in parsing_code()],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    for base in (tempfile.gettempdir(), "/tmp"):
        directory = os.path.join(base, DIRECTORY_PREFIX + digest)
        if len(os.fsencode(os.path.join(directory, SOCKET_NAME + ".new"))) <= SOCKET_PATH_MAX:
            private_directory(directory)
            return Place(directory)
    raise Unavailable(f"the temporary folder's path is too long for a Unix socket ({tempfile.gettempdir()})")


def parsing_code() -> list[str]:
    """The files of the plugin's own modules a server has loaded (its preload list): a changed one gets a new
    server."""
    from importlib.util import find_spec

    from rest_api_plugin.airflow_compat import LINE
    from rest_api_plugin.dag_files.parse_server import PRELOAD

    own = [name for name in PRELOAD if name.startswith("rest_api_plugin.")]
    return [
        find_spec(name).origin
        for name in ["rest_api_plugin.dag_files.parse_server", *own, f"rest_api_plugin.{LINE}.parsing"]
    ]


def working_directory() -> str | None:
    """The web worker's working directory, which the server and its children inherit (None: removed)."""
    try:
        return os.getcwd()
    except OSError:
        return None


def file_identity(path: str) -> list | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [path, info.st_ino, info.st_size, info.st_mtime_ns]


def private_directory(directory: str) -> None:
    """``directory`` exists, is no symbolic link, belongs to this user and nobody else may enter it."""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise Unavailable(f"cannot create {directory}: {err}") from err
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise Unavailable(f"{directory} is not a directory of this user with mode 0700")


# --- starting it ---


def start(place: Place, env: dict[str, str]) -> subprocess.Popen | None:
    """Start the server of ``place`` if none runs or starts (its lock is free); None if one does."""
    fd = os.open(place.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        for stale in (place.socket, place.socket + ".new"):  # a dead server's
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        server_log = os.open(place.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            process = subprocess.Popen(
                [*PROGRAM, place.directory, str(os.getpid()), str(fd)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=server_log,
                pass_fds=(fd,),
                start_new_session=True,
            )
        finally:
            os.close(server_log)
    finally:
        os.close(fd)  # the server's copy holds the lock from here on
    SERVERS.add(place, process)
    log.info("REST API plugin: started the parse server (pid %s) in %s", process.pid, place.directory)
    return process


def warm_up(env: dict[str, str]) -> None:
    """Start the server for ``env`` without waiting for it, unless one runs or starts already."""
    reason = unsupported()
    if reason:
        raise Unavailable(reason)
    try:
        place = place_of(env)
        if SERVERS.may_start(place):
            start(place, env)
    except OSError as err:
        raise Unavailable(f"the parse server could not be started: {err}") from err


def started_connection(place: Place, env: dict[str, str]) -> socket.socket:
    """A connection to the server of ``place``, starting it (at most once here) when nobody runs one."""
    if not SERVERS.may_start(place):
        raise Unavailable("the parse server failed to start less than a minute ago")
    deadline = time.monotonic() + START_SECONDS
    process = None
    while True:
        conn = open_connection(place)
        if conn is not None:
            return conn
        if process is None:
            process = start(place, env)
        elif process.poll() is not None:
            give_up(place, f"the parse server exited at start with code {process.returncode}")
        if time.monotonic() > deadline:
            give_up(place, f"no parse server accepted within {START_SECONDS} s")
        time.sleep(0.05)


def give_up(place: Place, why: str):
    SERVERS.failed(place)
    raise Unavailable(f"{why}; its log ({place.log}) ends with:\n{tail(place.log)}")


def tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as text:
            return "\n".join(text.read().splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err})"


def open_connection(place: Place) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(HELLO_SECONDS)  # a server too busy to accept does not hold the caller for ever
    try:
        conn.connect(place.socket)
    except (FileNotFoundError, ConnectionRefusedError):  # none yet, or a dead server's socket
        conn.close()
        return None
    except OSError:
        conn.close()
        raise
    return conn


# --- one phase ---


class Lines:
    """The JSON lines of a connection, each read by a deadline (TimeoutError); None at its end."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.buffer = bytearray()

    def next(self, deadline: float) -> dict | None:
        end = self.buffer.find(b"\n")
        while end < 0:  # a report can be megabytes (refresh_all_dags): only new bytes are searched
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.conn.settimeout(remaining)
            try:
                chunk = self.conn.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            found = chunk.find(b"\n")
            if found >= 0:
                end = len(self.buffer) + found
            self.buffer += chunk
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return json.loads(line)


def connect(place: Place, env: dict[str, str]) -> tuple[socket.socket, Lines, dict]:
    """A connection whose child has sent its pid. A server that closes it first (it was exiting) gets one
    more try, which starts a new server if needed."""
    for _ in range(2):
        conn = open_connection(place) or started_connection(place, env)
        lines = Lines(conn)
        try:
            hello = lines.next(time.monotonic() + HELLO_SECONDS)
        except (OSError, ValueError):  # TimeoutError is an OSError
            hello = None
        if isinstance(hello, dict) and isinstance(hello.get("pid"), int):
            return conn, lines, hello
        conn.close()
    raise Unavailable("the parse server closed two connections before forking a child for them")


def run(phase: str, request: dict, env: dict[str, str], seconds: float, stderr) -> Ended:
    """``phase`` in a child of the server for ``env``: its stdout and stderr go to the file ``stderr``; at
    ``seconds`` its process group is killed. Unavailable when the server cannot take it."""
    reason = unsupported()
    if reason:
        raise Unavailable(reason)
    try:
        place = place_of(env)
        conn, lines, hello = connect(place, env)
    except OSError as err:  # nothing was sent yet
        raise Unavailable(f"the parse server could not be reached: {err}") from err
    with conn:
        SERVERS.last_server = hello.get("server")
        return exchange(conn, lines, hello["pid"], phase, request, time.monotonic() + seconds, stderr)


def exchange(conn, lines: Lines, pid: int, phase: str, request: dict, deadline: float, stderr) -> Ended:
    watch = watch_process(pid)
    try:
        try:
            send_request(conn, encode({"phase": phase, "request": request}), stderr.fileno(), deadline)
        except OSError:  # the child is gone already: the server tells how it ended
            pass
        report, code, exit_code, until = None, None, None, deadline
        while True:
            try:
                message = lines.next(until)
            except TimeoutError:
                if report is not None:  # reported; the server is slow to confirm the end
                    break
                kill_group(pid, watch)
                return Ended(pid, exit_code_after_kill(lines), timed_out=True)
            except (OSError, ValueError):
                message = None
            if message is None:
                break
            if "report" in message:
                report, code = message["report"], message.get("code")
                until = min(deadline, time.monotonic() + REPORT_GRACE_SECONDS)
            elif "exit" in message:
                exit_code = message["exit"]
        if report is None:
            return Ended(pid, exit_code)
        return Ended(pid, code, report)
    finally:
        if watch is not None:
            os.close(watch)


def send_request(conn: socket.socket, data: bytes, stderr_fd: int, deadline: float) -> None:
    """The request line, with the stderr file's descriptor (the child writes its stdout and stderr there)."""
    conn.settimeout(max(0.1, deadline - time.monotonic()))
    sent = socket.send_fds(conn, [data], [stderr_fd])
    if sent < len(data):
        conn.sendall(data[sent:])


def watch_process(pid: int) -> int | None:
    """A pidfd of the child (Linux 5.3+): tells whether it still runs, so that its group is never killed
    after its pid may have been reused."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def kill_group(pid: int, watch: int | None) -> None:
    """SIGKILL the child's process group, unless the child has ended already (the server then kills what is
    left of its group as it reaps it)."""
    if watch is not None and select.select([watch], [], [], 0)[0]:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def exit_code_after_kill(lines: Lines) -> int | None:
    """The killed child's exit code, as the server reports it once it has reaped it (for the log)."""
    deadline = time.monotonic() + REPORT_GRACE_SECONDS
    try:
        while (message := lines.next(deadline)) is not None:
            if "exit" in message:
                return message["exit"]
    except (OSError, ValueError):
        pass
    return None
