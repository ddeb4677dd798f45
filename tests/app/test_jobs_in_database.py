"""Jobs in the metadata database: the plugin's own tables, the runner's heartbeat, stop requests through the
table, output bounded as configured, caps counted in the database under real concurrency, retention, the
move of file jobs of earlier versions, and a paged listing of many jobs. On SQLite and on PostgreSQL (with
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN set), on both Airflow lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from rest_api_plugin.processes import job_tables, jobs
from rest_api_plugin.processes.job_tables import job, job_output
from tests.helpers import is_running, poll

SLEEPS = "import time; time.sleep(60)"
# a command that outlives SIGTERM, with a child (in its process group) that does too, whose pid it writes down
DEAF_TO_SIGTERM = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "open({pidfile!r}, 'w').write(str(child.pid))\n"
    "time.sleep(300)\n"
)


def job_state(call, job_id: str) -> dict:
    return call("jobs", job_id=job_id).get_json()["data"]


def stored(job_id: str) -> dict[str, list[tuple[str, bytes]]]:
    """The job's output rows, per stream, in order: (part, data)."""
    rows: dict[str, list[tuple[str, bytes]]] = {"stdout": [], "stderr": []}
    query = (
        sa.select(job_output.c.stream, job_output.c.part, job_output.c.data)
        .where(job_output.c.job_id == job_id)
        .order_by(job_output.c.id)
    )
    with jobs.engine().connect() as connection:
        for stream, part, data in connection.execute(query):
            rows[stream].append((part, bytes(data)))
    return rows


def set_row(job_id: str, **values) -> None:
    with jobs.engine().begin() as connection:
        connection.execute(job.update().where(job.c.job_id == job_id).values(**values))


def delete_jobs(job_ids=(), prefix: str | None = None) -> None:
    with jobs.engine().begin() as connection:
        for table in (job_output, job):
            which = table.c.job_id.like(f"{prefix}%") if prefix else table.c.job_id.in_(list(job_ids))
            connection.execute(table.delete().where(which))


def ended_row(job_id: str, ended: datetime, **values) -> dict:
    return {
        "job_id": job_id,
        "api": "probe",
        "command": "python -c pass",
        "argv": "[]",
        "requested_by": "tests",
        "requested_with_token": False,
        "started_at": (ended - timedelta(minutes=1)).isoformat(timespec="microseconds"),
        "heartbeat_at": ended.timestamp(),
        "ended_at": ended.isoformat(timespec="microseconds"),
        "exit_code": 0,
        "stdout_cut_bytes": 0,
        "stderr_cut_bytes": 0,
        "merged_output": False,
        **values,
    }


class TestTables:
    def test_created_once_with_their_schema_version_and_creating_again_changes_nothing(self, app):
        engine = jobs.engine()
        names = set(sa.inspect(engine).get_table_names())
        assert {"rest_api_plugin_job", "rest_api_plugin_job_output", "rest_api_plugin_meta"} <= names
        assert job_tables.schema_version(engine) == job_tables.SCHEMA_VERSION
        errors = []

        def create():
            try:
                job_tables.create(engine)
            except Exception as err:  # pragma: no cover - what the test looks for
                errors.append(err)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(job_tables.meta)).scalar() == 2

    def test_the_record_and_the_output_are_in_the_tables(self, call, python_job):
        job_ = python_job("import sys; print('out'); print('err', file=sys.stderr)", dag_id="sample_dag")
        poll(lambda: job_state(call, job_["job_id"])["state"] != "running")
        record = jobs.load(job_["job_id"])
        assert (record["host"], record["pid"], record["dag_id"], record["exit_code"]) == (
            socket.gethostname(),
            job_["pid"],
            "sample_dag",
            0,
        )
        assert json.loads(record["argv"])[0] == sys.executable
        assert stored(job_["job_id"]) == {"stdout": [("head", b"out\n")], "stderr": [("head", b"err\n")]}

    def test_the_database_url_reaches_the_runner_through_its_environment_only(self, python_job):
        import psutil

        job_ = python_job(SLEEPS)
        runner = psutil.Process(job_["pid"])
        url = jobs.engine().url.render_as_string(hide_password=False)
        assert url not in " ".join(runner.cmdline())
        assert runner.environ()[job_tables.DATABASE_ENVIRONMENT] == url
        command = poll(lambda: runner.children())[0]
        assert job_tables.DATABASE_ENVIRONMENT not in command.environ()


# A command's transaction on Airflow's SQLite file, as Airflow's own writes go: it reads, talks while it works
# (the runner stores what it says), then writes what it read about. Exit code 0 only if it could.
SQLITE_COMMAND = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
connection.execute("BEGIN")
seen = connection.execute("SELECT count(*) FROM rest_api_plugin_test_scratch").fetchone()[0]
for line in range(30):
    print("working", line, flush=True)
    print("a log line", line, file=sys.stderr, flush=True)
    time.sleep(0.1)
connection.execute("INSERT INTO rest_api_plugin_test_scratch VALUES (?)", (seen,))
connection.execute("COMMIT")
print("committed", flush=True)
"""


class TestSqlite:
    """On SQLite, the plugin's job tables are a file of their own beside Airflow's: the runner writes output and
    heartbeats several times a second, and every such commit on Airflow's file can make a transaction of the
    command it runs fail with 'database is locked' (Airflow 3 uses WAL: a snapshot gone stale; Airflow 2: the
    lock upgrade SQLite refuses rather than deadlock). That was a backfill create failing at random."""

    @pytest.fixture
    def airflow_sqlite_file(self, app):
        from airflow import settings

        if settings.engine.dialect.name != "sqlite":
            pytest.skip("SQLite only: the job tables are in the metadata database elsewhere")
        path = settings.engine.url.database
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS rest_api_plugin_test_scratch (seen INTEGER)")
        yield path
        with sqlite3.connect(path) as connection:
            connection.execute("DROP TABLE rest_api_plugin_test_scratch")

    def test_the_job_tables_are_a_file_beside_airflows_and_not_in_it(self, airflow_sqlite_file, python_job):
        job_ = python_job("print('hello')")
        poll(lambda: jobs.describe(jobs.load(job_["job_id"]))["state"] != "running")
        own = jobs.engine().url.database
        assert Path(own).parent == Path(airflow_sqlite_file).parent and own != airflow_sqlite_file
        with sqlite3.connect(own) as connection:
            query = "SELECT count(*) FROM rest_api_plugin_job WHERE job_id = ?"
            assert connection.execute(query, (job_["job_id"],)).fetchone()[0] == 1
        with sqlite3.connect(airflow_sqlite_file) as connection:
            tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "dag_run" in tables and not {name for name in tables if name.startswith("rest_api_plugin_job")}

    def test_a_command_writing_to_airflows_file_is_not_broken_by_the_runners_writes(
        self, airflow_sqlite_file, python_job
    ):
        job_ = python_job(f"import sys; sys.argv[1:] = [{airflow_sqlite_file!r}]\n{SQLITE_COMMAND}")
        ended = poll(lambda: (d := jobs.describe(jobs.load(job_["job_id"])))["state"] != "running" and d, seconds=60)
        assert ended["state"] == "success", jobs.tail(job_["job_id"], "stderr")
        assert "committed" in jobs.tail(job_["job_id"])


class TestHeartbeatAndStop:
    def test_a_signal_before_the_command_started_ends_the_job_killed_and_the_command_never_runs(
        self, app, monkeypatch, tmp_path
    ):
        """A SIGTERM that reaches the runner while it is still starting (a stop of everything right after a
        start) was dropped: the command then ran on, and the job stayed running."""
        from rest_api_plugin.processes import job_runner

        job_id = "probe_signalled_early"
        row = ended_row(job_id, datetime.now(timezone.utc), ended_at=None, exit_code=None)
        with jobs.engine().begin() as connection:
            connection.execute(job.insert().values(**row))
        ran = tmp_path / "ran"
        monkeypatch.setattr(job_runner, "_early_signals", [])
        monkeypatch.setattr(job_runner, "_child_group", [])
        try:
            job_runner._pass_on(signal.SIGTERM, None)  # the signal handler, before any command was started
            runner = job_runner.Runner(jobs.engine(), job_id, 5, 10, 4096)
            runner.run([sys.executable, "-c", f"open({str(ran)!r}, 'w')"])
            record = jobs.load(job_id)
            assert (record["signal_name"], jobs.describe(record)["state"]) == ("SIGTERM", "killed")
            assert not ran.exists()
        finally:
            delete_jobs([job_id])

    def test_a_signal_to_the_runner_is_a_stop_with_its_grace_for_the_whole_group(
        self, python_job, monkeypatch, tmp_path
    ):
        """A SIGTERM to the runner itself (kill, a test session's cleanup) was passed on, then waited on for ever:
        a command that outlives SIGTERM kept its job running, and once the runner was killed the command's
        children stayed (an Airflow 3 scheduler's LocalExecutor worker did)."""
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_STOP_GRACE", "2")
        pidfile = tmp_path / "child.pid"
        job_ = python_job(DEAF_TO_SIGTERM.format(pidfile=str(pidfile)))
        child = int(poll(lambda: pidfile.exists() and pidfile.read_text()))
        signalled = time.monotonic()
        os.kill(job_["pid"], signal.SIGTERM)
        ended = poll(lambda: (s := jobs.describe(jobs.load(job_["job_id"])))["state"] != "running" and s, seconds=15)
        took = time.monotonic() - signalled
        assert (ended["state"], ended["signal"]) == ("killed", "SIGKILL"), ended
        assert 2 <= took < 8, took
        poll(lambda: not is_running(child), seconds=5)  # the command's child is gone too

    def test_the_runner_acts_on_a_stop_request_in_the_table_by_itself(self, call, python_job):
        job_ = python_job("import time; print('up', flush=True); time.sleep(60)")
        poll(lambda: "up" in jobs.tail(job_["job_id"]))
        asked = time.monotonic()
        set_row(job_["job_id"], stop_requested_at=job_tables.now_text(), stop_requested_by="another server")
        ended = poll(lambda: (s := jobs.describe(jobs.load(job_["job_id"])))["state"] != "running" and s, every=0.05)
        took = time.monotonic() - asked
        assert (ended["state"], ended["signal"], ended["stop_requested_by"]) == ("killed", "SIGTERM", "another server")
        assert took < 2.5, f"the runner took {took:.2f}s"
        print(f"\nstop through the table: ended {took:.2f}s after the request")

    def test_another_server_process_sees_reads_and_stops_the_job(self, call, python_job):
        job_ = python_job("import time; print('from the job', flush=True); time.sleep(60)")
        poll(lambda: "from the job" in jobs.tail(job_["job_id"]))
        script = (
            "import json, sys\n"
            "from rest_api_plugin.processes import jobs\n"
            "record = jobs.load(sys.argv[1])\n"
            "seen = jobs.describe(record, tail_lines=10)\n"
            "stopped, said = jobs.stop(record, requested_by='server B')\n"
            "print(json.dumps({'seen': seen, 'stopped': stopped, 'said': said}))\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", script, job_["job_id"]],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            timeout=120,
            check=True,
        )
        answer = json.loads(other.stdout.strip().splitlines()[-1])
        assert (answer["seen"]["state"], answer["seen"]["stdout"]) == ("running", "from the job")
        assert (answer["stopped"]["state"], answer["stopped"]["stop_requested_by"]) == ("killed", "server B")
        assert job_state(call, job_["job_id"])["state"] == "killed"

    def test_sigkill_after_the_grace(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_STOP_GRACE", "1")
        job_ = python_job(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('deaf', flush=True); time.sleep(60)"
        )
        poll(lambda: "deaf" in jobs.tail(job_["job_id"]))
        body = call("stop_job", job_id=job_["job_id"]).get_json()
        assert (body["status"], body["data"]["state"], body["data"]["signal"]) == ("OK", "killed", "SIGKILL"), body

    def test_stopping_a_job_whose_runner_is_gone_marks_it_lost_and_says_so(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_HEARTBEAT", "1")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_LOST_AFTER", "2")
        job_ = python_job(SLEEPS)
        os.kill(job_["pid"], signal.SIGKILL)
        poll(lambda: job_state(call, job_["job_id"])["state"] == "lost")
        body = call("stop_job", job_id=job_["job_id"]).get_json()
        assert (body["status"], body["data"]["state"]) == ("OK", "lost"), body
        assert (
            "is lost" in body["output"] and "marked lost" in body["output"] and socket.gethostname() in body["output"]
        )
        assert jobs.load(job_["job_id"])["lost_at"]
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_LOST_AFTER", "3600")  # lost stays lost: it was marked
        assert job_state(call, job_["job_id"])["state"] == "lost"
        assert call("stop_job", job_id=job_["job_id"]).get_json()["http_response_code"] == 409

    def test_a_signal_to_the_runner_reaches_the_command_and_the_end_is_recorded(self, call, python_job):
        job_ = python_job("import time; print('up', flush=True); time.sleep(60)")
        poll(lambda: "up" in jobs.tail(job_["job_id"]))
        os.kill(job_["pid"], signal.SIGTERM)  # e.g. an operator's kill, or a container's stop
        ended = poll(lambda: (s := job_state(call, job_["job_id"]))["state"] != "running" and s, seconds=10)
        assert (ended["state"], ended["signal"], ended["stdout"]) == ("killed", "SIGTERM", "up")

    def test_the_job_dies_with_its_runner(self, call, python_job, monkeypatch):
        import psutil

        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_HEARTBEAT", "1")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_LOST_AFTER", "2")
        job_ = python_job(SLEEPS)
        command = poll(lambda: psutil.Process(job_["pid"]).children())[0]
        os.kill(job_["pid"], signal.SIGKILL)
        assert poll(lambda: not command.is_running() or command.status() == psutil.STATUS_ZOMBIE, seconds=10)
        # lost before the test ends: a job counted as running no more while later tests count (the caps)
        assert poll(lambda: job_state(call, job_["job_id"])["state"] == "lost", seconds=10)
        # a stop marks it lost for good, before job_lost_after goes back to its default and makes it running again
        stopped = call("stop_job", job_id=job_["job_id"]).get_json()
        assert (stopped["status"], stopped["data"]["state"]) == ("OK", "lost"), stopped
        assert jobs.load(job_["job_id"])["lost_at"]


class TestOutputBound:
    def test_the_beginning_and_the_end_are_kept_and_the_cut_is_said(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_OUTPUT_MAX_BYTES", "16384")  # 4 KiB per part
        job_ = python_job(
            "import sys\nfor n in range(100000): print(f'line {n:06d}')\n"
            "print('err first'); print('on stderr', file=sys.stderr)"
        )
        done = poll(lambda: (s := job_state(call, job_["job_id"]))["state"] != "running" and s)
        assert done["state"] == "success"
        printed = sum(len(f"line {n:06d}\n") for n in range(100000)) + len("err first\n")
        rows = stored(job_["job_id"])
        head = b"".join(data for part, data in rows["stdout"] if part == "head")
        tail = b"".join(data for part, data in rows["stdout"] if part == "tail")
        assert head.startswith(b"line 000000\n") and len(head) == 4096
        assert tail.endswith(b"line 099999\nerr first\n") and len(tail) <= 4096
        record = jobs.load(job_["job_id"])
        assert record["stdout_cut_bytes"] == printed - len(head) - len(tail)
        assert rows["stderr"] == [("head", b"on stderr\n")] and record["stderr_cut_bytes"] == 0
        shown = call("jobs", job_id=job_["job_id"], lines="10000").get_json()["data"]["stdout"]
        assert shown.startswith("line 000000") and shown.endswith("err first")
        assert f"... {record['stdout_cut_bytes']} bytes cut ..." in shown

    def test_a_job_printing_fast_is_not_slowed_by_the_database(self, call, python_job):
        """About 50 MB through the pipes: the job's own duration against the same loop writing to /dev/null."""
        code = (
            "import os, sys, time; start = time.monotonic(); line = b'x' * 99 + b'\\n'; "
            "out = sys.stdout.buffer if len(sys.argv) < 2 else open(os.devnull, 'wb')\n"
            "for _ in range(500000): out.write(line)\nout.flush(); "
            "print(f'took {time.monotonic() - start:.3f}', file=sys.stderr)"
        )
        alone = subprocess.run([sys.executable, "-c", code, "devnull"], capture_output=True, text=True, check=True)
        seconds_alone = float(alone.stderr.split()[-1])
        job_ = python_job(code)
        done = poll(lambda: (s := job_state(call, job_["job_id"]))["state"] != "running" and s, seconds=120)
        assert done["state"] == "success", done
        seconds_as_job = float(done["stderr"].split()[-1])
        record = jobs.load(job_["job_id"])
        kept = sum(len(data) for _, data in stored(job_["job_id"])["stdout"])
        print(
            f"\n50 MB job: {seconds_as_job:.3f}s as a job, {seconds_alone:.3f}s to /dev/null; "
            f"{kept} bytes kept, {record['stdout_cut_bytes']} cut"
        )
        assert kept + record["stdout_cut_bytes"] == 50_000_000
        assert kept <= 4 * 1024 * 1024 // 2
        assert seconds_as_job < max(10 * seconds_alone, 3)


@pytest.mark.usefixtures("no_job_running")
class TestCapsAcrossServers:
    def test_concurrent_starts_at_the_cap_start_exactly_the_cap(self, app, monkeypatch):
        """Eight starts at once, through separate database connections as servers make them: two fit."""
        from rest_api_plugin.errors import TooManyRequests
        from rest_api_plugin.security import Identity
        from tests.helpers import python_program

        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER", "0")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", "2")
        barrier = threading.Barrier(8)
        started, refused = [], []

        def start(n):
            barrier.wait()
            try:
                started.append(jobs.start("probe", python_program(SLEEPS), Identity(kind="header", name=f"u{n}")))
            except TooManyRequests:
                refused.append(n)

        threads = [threading.Thread(target=start, args=(n,)) for n in range(8)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert (len(started), len(refused)) == (2, 6)
        finally:
            for described in started:
                jobs.stop(jobs.load(described["job_id"]), requested_by="tests")

    def test_two_processes_at_the_cap_start_one_between_them(self, app, monkeypatch, tmp_path):
        """Two server processes of their own, each trying to start jobs at once, one job below the cap."""
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER", "0")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", "1")
        go = tmp_path / "go"
        script = (
            "import os, sys, time, json\n"
            "from rest_api_plugin.processes import jobs\n"
            "from rest_api_plugin.errors import TooManyRequests\n"
            "from rest_api_plugin.security import Identity\n"
            "from tests.helpers import python_program\n"
            "jobs.engine()\n"
            "print('ready', flush=True)\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
            "results = []\n"
            "for n in range(3):\n"
            "    try:\n"
            "        results.append(jobs.start('probe', python_program('import time; time.sleep(60)'), "
            "Identity(kind='header', name='p'))['job_id'])\n"
            "    except TooManyRequests:\n"
            "        results.append(None)\n"
            "print(json.dumps(results), flush=True)\n"
        )
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        servers = [
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environment)
            for _ in range(2)
        ]
        started = []
        try:
            for server in servers:
                assert server.stdout.readline().strip() == "ready"
            go.touch()
            for server in servers:
                output, _ = server.communicate(timeout=120)
                started += [job_id for job_id in json.loads(output.strip().splitlines()[-1]) if job_id]
            assert len(started) == 1, started
        finally:
            for job_id in started:
                jobs.stop(jobs.load(job_id), requested_by="tests")


class TestRetention:
    def test_old_ended_jobs_and_their_output_are_pruned(self, app, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_RETENTION_DAYS", "30")
        now = datetime.now(timezone.utc)
        rows = {
            "probe_old_ended": ended_row("probe_old_ended", now - timedelta(days=31)),
            "probe_recent": ended_row("probe_recent", now - timedelta(days=29)),
            "probe_old_lost": ended_row("probe_old_lost", now - timedelta(days=40), ended_at=None, exit_code=None),
            # a file job of an earlier version, imported lost: no heartbeat ever
            "probe_old_imported": ended_row(
                "probe_old_imported",
                now - timedelta(days=31),
                ended_at=None,
                exit_code=None,
                heartbeat_at=None,
                lost_at=(now - timedelta(days=31)).isoformat(timespec="microseconds"),
            ),
        }
        with jobs.engine().begin() as connection:
            for row in rows.values():  # one by one: their columns differ
                connection.execute(job.insert().values(**row))
            connection.execute(
                job_output.insert(),
                [{"job_id": job_id, "stream": "stdout", "part": "head", "data": b"said\n"} for job_id in rows],
            )
        try:
            assert jobs.prune() == 3
            assert set(self._left(rows)) == {"probe_recent"}
            assert stored("probe_old_ended") == {"stdout": [], "stderr": []}
            assert stored("probe_recent")["stdout"] == [("head", b"said\n")]
            monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_RETENTION_DAYS", "0")  # 0: kept forever
            with jobs.engine().begin() as connection:
                connection.execute(job.insert(), [rows["probe_old_ended"]])
            assert jobs.prune() == 0
        finally:
            delete_jobs(rows)

    def test_servers_prune_by_themselves_now_and_then(self, call, monkeypatch):
        now = datetime.now(timezone.utc)
        with jobs.engine().begin() as connection:
            connection.execute(job.insert(), [ended_row("probe_ancient", now - timedelta(days=400))])
        try:
            monkeypatch.setattr(jobs, "_last_prune", [float("-inf")])
            call("jobs", limit="1")
            assert self._left(["probe_ancient"]) == []
        finally:
            delete_jobs(["probe_ancient"])

    @staticmethod
    def _left(job_ids) -> list[str]:
        with jobs.engine().connect() as connection:
            return [
                job_id
                for (job_id,) in connection.execute(sa.select(job.c.job_id).where(job.c.job_id.in_(list(job_ids))))
            ]


class TestFileJobsOfEarlierVersions:
    def test_moved_once_into_the_tables(self, call, tmp_path):
        from rest_api_plugin.processes import job_files

        folder = tmp_path / "jobs"
        folder.mkdir()
        suffix = os.urandom(3).hex()
        ended_id, running_id = f"backfill_20260101T000000_{suffix}", f"scheduler_20260101T000000_{suffix}"
        sleeper = subprocess.Popen([sys.executable, "-c", SLEEPS], start_new_session=True)
        try:
            for job_id, pid in ((ended_id, 999999999), (running_id, sleeper.pid)):
                (folder / f"{job_id}.json").write_text(
                    json.dumps(
                        {
                            "job_id": job_id,
                            "api": job_id.split("_")[0],
                            "command": f"airflow {job_id}",
                            "argv": ["x"],
                            "dag_id": None,
                            "pid": pid,
                            "started_at": "2026-01-01T00:00:00+00:00",
                            "requested_by": "token",
                            "requested_with_token": True,
                        }
                    )
                )
                (folder / f"{job_id}.out").write_text(f"out of {job_id}\n")
                (folder / f"{job_id}.err").write_text(f"err of {job_id}\n")
            (folder / f"{ended_id}.exit").write_text(
                json.dumps(
                    {"exit_code": 2, "signal": None, "signal_name": None, "ended_at": "2026-01-01T00:05:00+00:00"}
                )
            )
            assert job_files.migrate(jobs.engine(), folder) == 2
            assert not folder.exists() and len(list(tmp_path.glob("jobs.migrated-*"))) == 1
            ended = job_state(call, ended_id)
            assert (ended["state"], ended["exit_code"], ended["stdout"], ended["stderr"]) == (
                "failed",
                2,
                f"out of {ended_id}",
                f"err of {ended_id}",
            )
            assert ended["started_at"] == "2026-01-01T00:00:00.000000+00:00"
            running = job_state(call, running_id)
            assert (running["state"], running["pid"]) == ("lost", sleeper.pid)
            # again (another worker, the same files): nothing twice
            renamed = next(tmp_path.glob("jobs.migrated-*"))
            renamed.rename(folder)
            assert job_files.migrate(jobs.engine(), folder) == 0
        finally:
            sleeper.kill()
            sleeper.wait()
            delete_jobs([ended_id, running_id])

    def test_the_folder_of_earlier_versions_is_found_by_itself(self, call, monkeypatch):
        from rest_api_plugin.processes import job_files

        folder = job_files.folder()
        folder.mkdir(parents=True, exist_ok=True)
        job_id = f"test_20260101T000000_{os.urandom(3).hex()}"
        (folder / f"{job_id}.json").write_text(
            json.dumps(
                {
                    "job_id": job_id,
                    "api": "probe",
                    "command": "python -c pass",
                    "argv": [],
                    "pid": 999999999,
                    "started_at": "2026-01-01T00:00:00+00:00",
                    "requested_by": "token",
                }
            )
        )
        monkeypatch.setattr(jobs, "_ready_engines", {})  # as in a server process that starts
        try:
            assert job_state(call, job_id)["state"] == "lost"
            assert not folder.exists()
        finally:
            delete_jobs([job_id])


class TestListing:
    def test_paged_newest_first_with_the_total(self, call, python_job):
        first, second, third = (python_job("pass", by="op") for _ in range(3))
        page = call("jobs", who="op", limit="2").get_json()["data"]
        assert [j["job_id"] for j in page["jobs"]] == [third["job_id"], second["job_id"]]
        assert page["total_entries"] >= 3
        after = call("jobs", who="op", limit="2", offset="2").get_json()["data"]["jobs"]
        assert after[0]["job_id"] == first["job_id"]
        for bad in ({"limit": "0"}, {"offset": "-1"}, {"limit": "many"}):
            assert call("jobs", **bad).get_json()["http_response_code"] == 400

    def test_ten_thousand_jobs_list_in_milliseconds(self, call, python_job):
        now = datetime.now(timezone.utc)
        ids = [f"probe_bulk_{n:05d}" for n in range(10_000)]
        owners = ("user", "op", "viewer", "token")
        rows = [
            ended_row(
                job_id,
                now - timedelta(seconds=n),
                requested_by=owners[n % 4],
                requested_with_token=owners[n % 4] == "token",
                dag_id="sample_dag" if n % 3 == 0 else None,
            )
            for n, job_id in enumerate(ids)
        ]
        with jobs.engine().begin() as connection:
            connection.execute(job.insert(), rows)
        try:
            for who in ("token", "op", "viewer"):
                call("jobs", who=who, limit="50")  # warm
                began = time.perf_counter()
                body = call("jobs", who=who, limit="50", offset="2000").get_json()
                took = time.perf_counter() - began
                assert body["status"] == "OK" and len(body["data"]["jobs"]) == 50, body
                print(
                    f"\napi=jobs as {who}, 10,000 jobs, page of 50 at offset 2000: {took * 1000:.0f} ms "
                    f"(total_entries {body['data']['total_entries']})"
                )
                assert took < 1.0
            mine = call("jobs", who="op", limit="10000").get_json()["data"]["jobs"]
            # op's own jobs, and those of sample_dag, which it may read
            assert sum(1 for j in mine if j["job_id"].startswith("probe_bulk_")) == sum(
                1 for r in rows if r["requested_by"] == "op" or r["dag_id"] == "sample_dag"
            )
        finally:
            delete_jobs(prefix="probe_bulk_")
