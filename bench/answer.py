"""`make bench`: how soon an agent sees LeadConduit's answer after pressing Enter, end to end.

    python -m bench.answer [--database sqlite|postgres] [--runs 100] [--undo-seconds 0]

Starts on loopback: the portal under gunicorn (its embedded sandbox plays LeadConduit) and one
delivery worker (``run_worker``), both with FEEDBACK_UNDO_SECONDS=--undo-seconds. Then, as the
lead page does, it posts a return (htmx), follows the row's own polling (``hx-get`` after
``hx-trigger="load delay:…"``) until the row is final, and prints p50 / p95 of the time from the
end of the undo window (the submit itself when the window is 0) to the answer being on screen.
PostgreSQL gets a database of its own (BENCH_ANSWER_DATABASE, default fp_bench_answer, on
BENCH_PG), dropped afterwards. Figures, not pass/fail; every loop is bounded.
"""

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from bench.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS, TARGET_P95_MS = 300, 600
ROW = re.compile(
    r'<tr id="feedback-(\d+)" class="status-([a-z]+)"\s*(?:hx-get="([^"]+)" hx-trigger="load delay:(\d+)ms")?'
)


def database_url(kind: str, workdir: str) -> str | None:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/answer.sqlite3"
    import psycopg

    server = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    name = os.environ.get("BENCH_ANSWER_DATABASE", "fp_bench_answer")
    try:
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not reachable at {server} ({exc}); skipped.")
        return None
    return f"{server}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(runs: int) -> tuple[str, list[int], int]:
    """Migrate, make an agent and ``runs`` leads the sandbox knows; return (session key, lead ids, reason id)."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connections

    from feedbackportal.feedback.models import Reason
    from feedbackportal.leads.models import Lead
    from feedbackportal.sandbox.models import SandboxEvent

    call_command("migrate", verbosity=0)
    agent = User.objects.create_user("bench-agent", password=secrets.token_hex(8))
    agent.groups.add(Group.objects.get(name="Agent"))
    session = SessionStore()
    session[SESSION_KEY] = str(agent.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
    session.create()
    lead_ids = []
    for n in range(runs):
        event_id = uuid.uuid4().hex[:24]
        SandboxEvent.objects.create(
            event_id=event_id, lead_id=uuid.uuid4().hex[:24], first_name="Joe", last_name=f"Bench{n}"
        )
        lead_ids.append(Lead.objects.create(event_id=event_id, first_name="Joe", last_name=f"Bench{n}").pk)
    reason = Reason.objects.get(feedback_type="return", label="Wrong number")
    session_key = session.session_key
    assert session_key is not None
    connections.close_all()
    return session_key, lead_ids, reason.pk


class Agent:
    """The lead page's part of the conversation: post a return, then poll as the row says."""

    def __init__(self, base: str, session_key: str) -> None:
        self.base = base
        self.csrf = secrets.token_hex(16)
        self.headers = {
            "Cookie": f"sessionid={session_key}; csrftoken={self.csrf}",
            "HX-Request": "true",
            "X-CSRFToken": self.csrf,
        }

    def request(self, path: str, data: dict | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=self.headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def return_lead(self, lead_id: int, reason_id: int) -> tuple[str, float]:
        """Submit, follow the polls until the row is final; its final status and when it arrived."""
        fields = {"feedback_type": "return", "reason": reason_id, "note": "", "idempotency_key": str(uuid.uuid4())}
        page = self.request(f"/feedback/lead/{lead_id}/", fields)
        row = ROW.search(page)
        if row is None:
            raise SystemExit(f"no feedback row in the answer to the submit:\n{page[:2000]}")
        for _ in range(200):
            _, status, poll_url, delay_ms = row.groups()
            if poll_url is None:
                return status, time.perf_counter()
            time.sleep(int(delay_ms) / 1000)
            row = ROW.search(self.request(poll_url.replace("&amp;", "&")))
            if row is None:
                raise SystemExit("a status poll answered without the row")
        raise SystemExit("the row never became final")


def print_server_side(undo_seconds: int) -> None:
    """Where the time goes, from the rows: the worker's pick-up after the window, and the call itself."""
    from django.db import connections

    from feedbackportal.feedback.models import DeliveryAttempt

    picked, called = [], []
    rows = DeliveryAttempt.objects.values_list("feedback__created_at", "started_at", "finished_at")
    for created, started, ended in rows:
        if ended is None:
            continue
        picked.append((started.timestamp() - created.timestamp() - undo_seconds) * 1000)
        called.append((ended.timestamp() - started.timestamp()) * 1000)
    connections.close_all()
    if picked:
        print(
            f"  server side: worker claimed it {statistics.median(picked):.0f} ms after it was due (p50), "
            f"call and record {statistics.median(called):.0f} ms (p50)"
        )


def measure(kind: str, runs: int, undo_seconds: int) -> None:
    workdir = tempfile.mkdtemp(prefix="fp-bench-answer-")
    url = database_url(kind, workdir)
    if url is None:
        return
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": url,
        "DEBUG": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORT": str(port),
        "LEADCONDUIT_FEEDBACK_URL": f"http://127.0.0.1:{port}/sandbox/feedback",
        "FEEDBACK_UNDO_SECONDS": str(undo_seconds),
        "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
    }
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    try:
        session_key, lead_ids, reason_id = prepare(runs)
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        web = [gunicorn, "feedbackportal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        web += ["--worker-class", "gthread", "--threads", "4", "--timeout", "30"]
        worker = [sys.executable, "manage.py", "run_worker", "--concurrency", "2"]
        for command in (web, worker):
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        wait_for_port(port)
        agent = Agent(f"http://127.0.0.1:{port}", session_key)
        agent.return_lead(lead_ids.pop(), reason_id)  # warm up: connections, imports, the worker's first wake
        samples, statuses = [], []
        for lead_id in lead_ids[: runs - 1]:
            started = time.perf_counter()
            status, answered = agent.return_lead(lead_id, reason_id)
            samples.append((answered - started - undo_seconds) * 1000)
            statuses.append(status)
        samples.sort()
        p50, p95 = statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]
        since = "submit" if undo_seconds == 0 else f"the end of a {undo_seconds} s undo window"
        print(f"Submit → answer on screen ({kind}, {len(samples)} returns, from {since}):")
        print(
            f"  p50 {p50:6.0f} ms   p95 {p95:6.0f} ms   max {samples[-1]:6.0f} ms   "
            f"(target p50 ≤ {TARGET_P50_MS} ms, p95 ≤ {TARGET_P95_MS} ms: "
            f"{'met' if p50 <= TARGET_P50_MS and p95 <= TARGET_P95_MS else 'NOT met'})"
        )
        others = {status: statuses.count(status) for status in set(statuses) if status != "accepted"}
        print(f"  accepted {statuses.count('accepted')}" + (f", other {others}" if others else ""))
        print_server_side(undo_seconds)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if kind == "postgres":
            drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_ANSWER_RUNS", "100")))
    parser.add_argument("--undo-seconds", type=int, default=0)
    args = parser.parse_args()
    measure(args.database, max(2, args.runs), args.undo_seconds)


if __name__ == "__main__":
    main()
