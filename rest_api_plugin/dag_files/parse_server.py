"""The parse server: one process per host that has imported Airflow and forks a child for each DAG-file phase.

A fresh ``python -m rest_api_plugin.dag_files.parsing_child`` pays for an Airflow import (1 to 3 s) before it parses a
ten-line file: most of a deploy. Airflow's own DAG processor forks its file processors from a process that has
imported Airflow already; so does this server. ``parse_server_client.py`` starts it, from a web worker, as
``python -P -m rest_api_plugin.dag_files.parse_server DIRECTORY STARTER LOCK_FD``: an argument list, the environment of
the DAG processor child (none of the webserver's secrets), a session of its own. It imports Airflow and the
modules the phases use, without connecting to the database or parsing any DAG file, then listens on
DIRECTORY/socket (a directory private to the user) and forks one child per connection. The child:

- becomes a session and process group of its own, so that the web worker can kill it and whatever it
  started at once when its deadline passes;
- drops what it inherited from the server: the listening socket, the other children's connections, the
  server's signal handlers and its database pool;
- sends its pid first, then receives the request and the web worker's stderr file (SCM_RIGHTS), which becomes
  its stdout and stderr: what a DAG file prints goes to the webserver log, as from a fresh process;
- runs the phase (``parsing_child.answer``), sends the report and kills its own process group, so that
  nothing it started outlives its parse.

The server reaps each child, kills what is left of its process group (a file that ended the process with
``os._exit`` left its own children behind) and then tells the web worker the exit code. It runs no DAG code
itself, so one file's crash, exit or hang harms nothing but its own child. It exits when the process that
started it is gone (its parent pid changes: a thread's end must not count, so no PR_SET_PDEATHSIG), after
IDLE_SECONDS without a request, when its socket file is removed or replaced (nobody could reach it), or on
SIGTERM; its exit code is 0 or 1, never gunicorn's 3 or 4 (a gunicorn master that started it with
``--preload`` halts the webserver on those).

The protocol, one JSON object per line on the connection:

    child  -> worker  {"pid": CHILD, "server": SERVER}
    worker -> child   {"phase": PHASE, "request": {...}}     its stderr file descriptor attached
    child  -> worker  {"report": {...}, "code": 0 or 1}
    server -> worker  {"exit": RETURNCODE}                   after the child ended (negative: its signal)

Module level imports stay in the standard library: the web worker imports this module for the names above.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback

SOCKET_NAME = "socket"
LOCK_NAME = "lock"
LOG_NAME = "server.log"
IDLE_SECONDS = 600
POLL_SECONDS = 1.0  # how soon it notices that its starter is gone
DRAIN_SECONDS = 2.0  # at exit, how long it waits for running children (to report their exit codes)
BACKLOG = 64
RECEIVE_BYTES = 65536

# What the phases import, loaded once in the server so that a child starts with it in memory (any that this
# Airflow does not have is skipped). The operators are those most DAG files import.
PRELOAD = (
    "rest_api_plugin.dag_files.parsing_child",
    "rest_api_plugin.dag_files.dag_folder",
    "airflow.models.dagbag",
    "airflow.models.serialized_dag",
    "airflow.serialization.serialized_objects",
    "airflow.utils.file",
    "airflow.utils.session",
)  # and the line's own (airflow2/parsing.py, airflow3/parsing.py: preload_modules)


def encode(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def say(text: str) -> None:
    """A line in the server's log (its stderr: DIRECTORY/server.log)."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} parse server {os.getpid()}: {text}", file=sys.stderr, flush=True)


def preload() -> None:
    """The modules of PRELOAD, Airflow's models ready for queries, and Airflow's plugins (storing a DAG loads
    them for its operator extra links): loaded once here, as Airflow's own DAG processor loads them once,
    rather than in every child."""
    from airflow import plugins_manager

    from rest_api_plugin.airflow_compat import this_line

    for name in PRELOAD + this_line("parsing").preload_modules():
        try:
            importlib.import_module(name)
        except ImportError as err:
            say(f"not preloaded: {name} ({err})")
    try:
        plugins_manager.ensure_plugins_loaded()
    except Exception:  # a broken plugin: each child meets it as a fresh process would
        say(f"plugins not preloaded:\n{traceback.format_exc()}")
    configure_models()


def configure_models() -> None:
    """SQLAlchemy configures the mappers of all models at their first query (a quarter of a second on Airflow
    3): done here once, without a query."""
    from airflow.models import import_all_models
    from sqlalchemy.orm import configure_mappers

    import_all_models()
    configure_mappers()


class Server:
    def __init__(self, directory: str, starter: int, lock_fd: int):
        self.path = os.path.join(directory, SOCKET_NAME)
        self.starter = starter
        self.lock_fd = lock_fd  # held for the server's life: a second one never starts beside it
        self.children: dict[int, socket.socket] = {}  # pid -> the connection it serves (to report its end)
        self.stopping = ""
        self.last_request = time.monotonic()
        self.listener: socket.socket | None = None
        self.socket_inode = 0
        self.wake_read, self.wake_write = os.pipe()
        # What each child gets back of the two signals the server handles: SIGTERM as the server started with
        # it (as a fresh process would), SIGCHLD at its default even if the starter ignored it (a DAG file's
        # subprocesses could not be waited for).
        self.child_handlers = {
            signal.SIGTERM: signal.getsignal(signal.SIGTERM) or signal.SIG_DFL,
            signal.SIGCHLD: signal.SIG_DFL,
        }

    def run(self) -> int:
        os.set_inheritable(self.lock_fd, False)
        for fd in (self.wake_read, self.wake_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_write)  # a child's end (SIGCHLD) wakes select() at once
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # even if the starter ignored it
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop("SIGTERM"))
        started = time.monotonic()
        preload()
        if threading.active_count() > 1:  # a fork copies only the thread that forks
            say(f"{threading.active_count() - 1} thread(s) started while importing: children will not have them")
        gc.freeze()  # what is loaded now stays shared with the children (no copy-on-write by the collector)
        self.listener = listen(self.path)
        self.socket_inode = os.stat(self.path).st_ino
        say(f"ready in {time.monotonic() - started:.1f} s, listening on {self.path}")
        while not self.stopping:
            ready, _, _ = select.select([self.listener, self.wake_read], [], [], POLL_SECONDS)
            if self.wake_read in ready:
                drain(self.wake_read)
            self.reap()
            if self.listener in ready:
                self.accept()
            self.check_liveness()
        self.close()
        return 0

    def stop(self, why: str) -> None:
        self.stopping = self.stopping or why

    def check_liveness(self) -> None:
        if os.getppid() != self.starter:
            self.stop(f"its starter (pid {self.starter}) is gone")
        elif not self.children and time.monotonic() - self.last_request > IDLE_SECONDS:
            self.stop(f"no request for {IDLE_SECONDS} s")
        elif not self.owns_socket():
            self.stop("its socket was removed or replaced")  # nobody could reach it: let the next call start one

    def owns_socket(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.socket_inode
        except OSError:
            return False

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:  # the caller gave up already
            return
        self.last_request = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the server's loop
            code = 1
            try:
                code = serve_child(conn, self.inherited_fds(), self.child_handlers)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        self.children[pid] = conn

    def inherited_fds(self) -> list[int]:
        """The server's descriptors a child must not keep (all but its own connection)."""
        others = [other.fileno() for other in self.children.values()]
        return [self.listener.fileno(), self.wake_read, self.wake_write, self.lock_fd, *others]

    def reap(self) -> None:
        """For each child that ended: kill what is left of its process group while its pid is still held (a
        zombie's pid and group id cannot be reused), reap it, and send its exit code to the web worker."""
        while True:
            try:
                ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if ended is None:
                return
            try:
                os.killpg(ended.si_pid, signal.SIGKILL)
            except OSError:
                pass
            _, status = os.waitpid(ended.si_pid, 0)
            conn = self.children.pop(ended.si_pid, None)
            if conn is not None:
                try:  # never blocks the server: a worker that went away loses nothing
                    conn.send(encode({"exit": os.waitstatus_to_exitcode(status)}), socket.MSG_DONTWAIT)
                except OSError:
                    pass
                conn.close()

    def close(self) -> None:
        """Stop listening (the socket file first, so that a new server may start), then give running children
        DRAIN_SECONDS to end and be reported; a child still running is its web worker's to stop."""
        say(f"exits: {self.stopping}")
        if self.owns_socket():  # not another server's, that replaced it
            os.unlink(self.path)
        self.listener.close()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.children and time.monotonic() < deadline:
            select.select([self.wake_read], [], [], 0.1)
            drain(self.wake_read)
            self.reap()


def listen(path: str) -> socket.socket:
    """A listening socket at ``path``, put in place whole (a caller never connects to a half-made one); a
    socket left there by a server that died is replaced (this server holds the lock)."""
    building = f"{path}.new"
    try:
        os.unlink(building)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        listener.bind(building)
    finally:
        os.umask(previous)
    listener.listen(BACKLOG)
    os.replace(building, path)
    return listener


def drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


# --- the child ---


def serve_child(conn: socket.socket, inherited_fds: list[int], handlers: dict) -> int:
    """One phase in this forked child; ends by killing its own process group (or returns its exit code when
    it could not run the phase)."""
    os.setsid()
    for fd in inherited_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    signal.set_wakeup_fd(-1)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    forget_database_pool()
    conn.sendall(encode({"pid": os.getpid(), "server": os.getppid()}))
    message = receive_request(conn)
    report = answer(message["phase"], message["request"])
    conn.sendall(encode({"report": report, "code": 1 if "internal_error" in report else 0}))
    end_process_group()
    return 0


def forget_database_pool() -> None:
    """Connections of the server's pool belong to the server (it opens none, but a pool shared over fork
    would mix two processes' traffic on one connection): the child opens its own."""
    from airflow import settings

    engine = getattr(settings, "engine", None)
    if engine is not None:
        engine.dispose(close=False)


def receive_request(conn: socket.socket) -> dict:
    """The request line; the web worker's stderr file, sent along, becomes this process's stdout and stderr."""
    data, fds, _, _ = socket.recv_fds(conn, RECEIVE_BYTES, 1)
    for fd in fds:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    while not data.endswith(b"\n"):
        more = conn.recv(RECEIVE_BYTES)
        if not more:
            raise EOFError("the web worker closed the connection before its request ended")
        data += more
    return json.loads(data)


def answer(phase: str, request: dict) -> dict:
    from rest_api_plugin.dag_files.parsing_child import answer as phase_answer

    try:
        return phase_answer(phase, request)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def end_process_group() -> None:
    """Close the database connections the phase opened, then SIGKILL the process group: this child and
    whatever the DAG file started (as the fresh process's caller does after it ends)."""
    from airflow import settings

    engine = getattr(settings, "engine", None)
    if engine is not None:
        try:
            engine.dispose()
        except Exception:
            traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m rest_api_plugin.dag_files.parse_server DIRECTORY STARTER_PID LOCK_FD", file=sys.stderr)
        return 1
    try:
        return Server(argv[1], int(argv[2]), int(argv[3])).run()
    except BaseException:  # SystemExit too: whatever code an import exits with, the server's is 1
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
