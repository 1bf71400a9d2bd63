"""`make bench-scale`: one million leads and feedbacks on PostgreSQL, served by gunicorn as the Procfile does.

Creates its own database (BENCH_SCALE_DATABASE, default fp_bench_scale, on BENCH_PG, default
postgres://postgres@127.0.0.1:5432), loads BENCH_SCALE_LEADS leads (default 1,000,000) and as many
feedbacks with COPY, starts gunicorn on 127.0.0.1:BENCH_SCALE_PORT (default 8103) with the
Procfile's options, and prints p50 / p95 for every agent search kind beside the Django admin's
changelist search on the same terms, every manager page, and the full CSV export (time, peak RSS
of the gunicorn worker). Then, against a LeadConduit that takes 200 ms (the sandbox's slow mode,
served by a gunicorn of its own on BENCH_SCALE_SANDBOX_PORT, default 8104): how fast the Procfile's
worker (`run_worker --concurrency 24`) drains BENCH_DRAIN queued feedbacks (default 2,000), and
BENCH_AGENTS agents (default 50) each doing BENCH_AGENT_LOOPS rounds (default 10) of search → lead
page → submit, with throughput, p95 per step, errors, and submit → answer recorded. Then stops
everything and drops the database (BENCH_SCALE_KEEP=1 keeps it; BENCH_SCALE_REUSE=1 times a kept one
again without loading, BENCH_SCALE_ONLY=search,pages picks parts). Loopback only; every loop and
every wait is bounded. Figures, not pass/fail: on a busy 2-core machine they are noisy.
"""

import io
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.ports import wait_for_port

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
NAME = os.environ.get("BENCH_SCALE_DATABASE", "fp_bench_scale")
LEADS = int(os.environ.get("BENCH_SCALE_LEADS", "1000000"))
PORT = int(os.environ.get("BENCH_SCALE_PORT", "8103"))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "40"))
WARM_UP = 12  # requests of each kind before timing: every gunicorn worker and thread gets some
SANDBOX_PORT = int(os.environ.get("BENCH_SCALE_SANDBOX_PORT", "8104"))
DRAIN = int(os.environ.get("BENCH_DRAIN", "2000"))
AGENTS = int(os.environ.get("BENCH_AGENTS", "50"))
AGENT_LOOPS = int(os.environ.get("BENCH_AGENT_LOOPS", "10"))
WORKER_CONCURRENCY = 24  # the Procfile's defaults: 2 processes of 24 threads
WORKER_PROCESSES = 2
PARTS = ("search", "pages", "drain", "agents", "export")
ONLY = {part for part in os.environ.get("BENCH_SCALE_ONLY", ",".join(PARTS)).split(",") if part}
LEADCONDUIT_DELAY = 0.2
KEEP = os.environ.get("BENCH_SCALE_KEEP", "") not in ("", "0", "false")  # leave the database for EXPLAIN
# Time again against a database an earlier BENCH_SCALE_KEEP run left (migrated, not loaded again).
REUSE = os.environ.get("BENCH_SCALE_REUSE", "") not in ("", "0", "false")
URL = f"{SERVER}/{NAME}"
SANDBOX_SQLITE = Path(f"/tmp/bench-scale-sandbox-{os.getpid()}.sqlite3")
SANDBOX_LOG = Path(f"/tmp/bench-scale-sandbox-{os.getpid()}.log")  # kept: read it if the sandbox died
BASE = f"http://127.0.0.1:{PORT}"
SLOW_LEADCONDUIT = f"http://127.0.0.1:{SANDBOX_PORT}/sandbox/fault/slow/feedback?delay={LEADCONDUIT_DELAY}"
# BENCH_LEADCONDUIT=stub: an asyncio stand-in that answers every call after the delay at almost no
# CPU (bench/stub_leadconduit.py), so the drain shows the worker rather than a starved sandbox.
STUB = os.environ.get("BENCH_LEADCONDUIT", "sandbox") == "stub"
STUB_LEADCONDUIT = f"http://127.0.0.1:{SANDBOX_PORT}/feedback"
PENDING = "('queued', 'sending', 'retrying')"

FIRST = [f"First{n}" for n in range(400)] + ["Mary", "John", "James", "Maria", "David", "Linda"]
LAST = [f"Last{n}" for n in range(2000)] + ["Smith", "Johnson", "Garcia", "Brown", "Smithers"]
ENV = os.environ | {
    "DATABASE_URL": URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-scale-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1",
    "LEADCONDUIT_FEEDBACK_URL": "http://127.0.0.1:9/feedback",
    "LEADCONDUIT_ALLOW_HTTP": "true",  # the loopback sandbox stands in for LeadConduit
    "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
    "SECURE_SSL_REDIRECT": "false",
}


def admin_sql(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def manage(*args: str, env: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env or ENV, check=True, stdout=subprocess.DEVNULL
    )


def sandbox_env() -> dict:
    """The sandbox stands in for a LeadConduit elsewhere. By default it records its calls in a SQLite
    file of its own, so it takes none of PostgreSQL's 100 connections from the worker and the web
    (BENCH_SANDBOX_DATABASE=postgres: in the bench's database, holding a connection only while it
    records a call, never while it sleeps the 200 ms)."""
    if os.environ.get("BENCH_SANDBOX_DATABASE", "sqlite") == "postgres":
        return ENV | {"DEBUG": "true", "CONN_MAX_AGE": "0"}
    env = ENV | {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{SANDBOX_SQLITE}"}
    manage("migrate", "--noinput", env=env)
    return env


def load(conn: psycopg.Connection) -> dict:
    """Leads spread over two years, one feedback each (6% waiting for a manager); returns sample terms."""
    rng = random.Random(10)
    now = datetime.now(UTC)
    source_id = conn.execute(
        "INSERT INTO leads_source (name, slug, intake_token, field_mapping, active, created_at, updated_at) "
        "VALUES ('Bench', 'bench', 'x', '{}', true, now(), now()) RETURNING id"
    ).fetchone()[0]
    reasons = conn.execute("SELECT id, feedback_type, text FROM feedback_reason ORDER BY id").fetchall()
    returns = [r for r in reasons if r[1] == "return"]
    conversions = [r for r in reasons if r[1] == "conversion"]
    agent_id = conn.execute("SELECT id FROM auth_user WHERE username = 'bench-manager'").fetchone()[0]
    samples: dict = {"phones": [], "names": [], "emails": [], "events": []}
    started = time.perf_counter()
    columns = (
        "event_id, leadconduit_id, first_name, last_name, email, phone, phone_digits, address, city, state, "
        "postal_code, source_name, source_id, received_at, created_at, updated_at"
    )
    with conn.cursor() as cursor, cursor.copy(f"COPY leads_lead ({columns}) FROM STDIN") as copy:
        for n in range(LEADS):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            digits = f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            event = f"{n:024x}"
            email = f"{first}.{last}{n}@example.com".lower()
            at = now - timedelta(minutes=n)
            copy.write_row(
                (event, "", first, last, email, digits, digits, "", "", "", "", "Bench", source_id, at, at, at)
            )
            if n % (LEADS // 50) == 7:
                samples["phones"].append(digits)
                samples["names"].append((first, last))
                samples["emails"].append(email)
                samples["events"].append(event)
    print(f"  leads: {LEADS:,} in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    columns = (
        "lead_id, feedback_type, reason_id, reason_text, status, status_message, outcome, outcome_reason, note, "
        "agent_id, idempotency_key, attempt_count, attempts_before_resend, task_id, created_at, updated_at, answered_at"
    )
    first_lead = conn.execute("SELECT min(id) FROM leads_lead").fetchone()[0]
    # Each lead's feedback summary is kept by triggers (migration leads/0012), a row at a time: off
    # for the load, then filled as the migration fills it for feedback that came before it.
    conn.execute("ALTER TABLE feedback_feedback DISABLE TRIGGER USER")
    with conn.cursor() as cursor, cursor.copy(f"COPY feedback_feedback ({columns}) FROM STDIN") as copy:
        for n in range(LEADS):
            is_return = n % 3 != 0
            reason = rng.choice(returns if is_return else conversions)
            waiting = n % 16 == 0
            status = ("unconfirmed" if n % 32 == 0 else "failed") if waiting else "accepted"
            at = now - timedelta(minutes=n, seconds=-30)
            copy.write_row(
                (
                    first_lead + n,
                    "return" if is_return else "conversion",
                    reason[0],
                    reason[2],
                    status,
                    "",
                    "" if waiting else "success",
                    "",
                    "",
                    agent_id,
                    uuid.UUID(int=n + 1),
                    1,
                    0,
                    "",
                    at,
                    at,
                    None if waiting else at,
                )
            )
    conn.execute("ALTER TABLE feedback_feedback ENABLE TRIGGER USER")
    print(f"  feedbacks: {LEADS:,} in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    manage("shell", "-c", FILL_SUMMARIES)
    print(f"  the leads' feedback summaries filled in {time.perf_counter() - started:.0f} s", flush=True)
    # As autovacuum leaves a table after a bulk load: statistics, and the visibility map that lets
    # index-only scans skip the heap.
    conn.execute("VACUUM ANALYZE")
    samples["first_lead"] = first_lead
    return samples


def loaded_samples(conn: psycopg.Connection) -> dict:
    """The samples load() took, read back from the leads it loaded (event ids are the load order)."""
    first_lead = conn.execute("SELECT min(id) FROM leads_lead").fetchone()[0]
    events = [f"{n:024x}" for n in range(7, LEADS, LEADS // 50)]
    rows = conn.execute(
        "SELECT event_id, phone_digits, first_name, last_name, email FROM leads_lead WHERE event_id = ANY(%s)", [events]
    ).fetchall()
    found = {row[0]: row for row in rows}
    samples: dict = {"phones": [], "names": [], "emails": [], "events": [], "first_lead": first_lead}
    for event in events:
        _, digits, first, last, email = found[event]
        samples["phones"].append(digits)
        samples["names"].append((first, last))
        samples["emails"].append(email)
        samples["events"].append(event)
    return samples


def session_cookie(username: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django;django.setup();"
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY;"
            "from django.contrib.sessions.backends.db import SessionStore;"
            f"u=get_user_model().objects.get(username='{username}');s=SessionStore();"
            "s[SESSION_KEY]=str(u.pk);s[BACKEND_SESSION_KEY]='django.contrib.auth.backends.ModelBackend';"
            "s[HASH_SESSION_KEY]=u.get_session_auth_hash();s.create();print(s.session_key)",
        ],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def get(path: str, cookie: str, headers: dict | None = None) -> bytes:
    request = urllib.request.Request(BASE + path, headers={"Cookie": f"sessionid={cookie}"} | (headers or {}))
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
        return response.read()


def timed(fn, runs: int = RUNS) -> tuple[float, float]:
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def search_kinds(samples: dict) -> dict:
    from urllib.parse import quote

    def terms(kind: str, n: int) -> str:
        phone = samples["phones"][n % len(samples["phones"])]
        first, last = samples["names"][n % len(samples["names"])]
        return {
            "full phone": f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
            "last 7 digits": phone[3:],
            "last 4 digits": phone[6:],
            "email": samples["emails"][n % len(samples["emails"])],
            "email prefix": samples["emails"][n % len(samples["emails"])][:8],
            "last name": last,
            "Last, First": f"{last}, {first}",
            "First Last": f"{first} {last}",
            "event id": samples["events"][n % len(samples["events"])],
            "event id prefix": samples["events"][n % len(samples["events"])][-8:].rjust(8, "0"),
        }[kind]

    return {kind: lambda n, kind=kind: quote(terms(kind, n)) for kind in KINDS}


KINDS = [
    "full phone",
    "last 7 digits",
    "last 4 digits",
    "email",
    "email prefix",
    "last name",
    "Last, First",
    "First Last",
    "event id",
    "event id prefix",
]


def rss_peak_kib(pids: list[int]) -> int:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            continue
    return peak


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * share) - 1)] if ordered else float("nan")


def gunicorn_process(
    port: int, env: dict, *, workers: int = 3, threads: int = 4, log: Path | None = None
) -> subprocess.Popen:
    """gunicorn as the Procfile runs it (gthread, timeout 30), on a loopback port; its errors to `log`."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "feedbackportal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log else subprocess.DEVNULL,
    )


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (a 4xx/5xx is an answer), which is all we wait for
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def lead_number(kind: str, n: int) -> int:
    """Bench lead numbers whose return is already given (n % 3 != 0), so a conversion may be submitted:
    the drain's from the middle of the table, the agents' from three quarters in; never the same lead."""
    start = (LEADS // 2 if kind == "drain" else LEADS * 3 // 4) // 3 * 3
    return start + 3 * n + 1


QUEUE_DRAIN = """
from pathlib import Path
from feedbackportal.feedback.services import submit_feedback
from feedbackportal.leads.models import Lead
ids = [int(value) for value in Path({path!r}).read_text().split()]
leads = Lead.objects.filter(pk__in=ids)
made = [submit_feedback(lead=lead, feedback_type="conversion", reason=None).pk for lead in leads]
print(min(made), max(made), len(made))
"""


def queue_drain(samples: dict) -> tuple[int, int, int]:
    """Queue DRAIN conversions through the service (feedback and task in one transaction), no worker
    running yet; returns the first and last feedback id and how many."""
    ids_file = Path(f"/tmp/bench-scale-drain-{os.getpid()}.txt")
    ids_file.write_text(" ".join(str(samples["first_lead"] + lead_number("drain", n)) for n in range(DRAIN)))
    try:
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", QUEUE_DRAIN.format(path=str(ids_file))],
            cwd=ROOT,
            env=ENV,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        ids_file.unlink(missing_ok=True)
    first, last, count = (int(value) for value in out.stdout.split()[-3:])
    return first, last, count


def pending_between(conn: psycopg.Connection, first: int, last: int) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM feedback_feedback WHERE id BETWEEN %s AND %s AND status IN {PENDING}", (first, last)
    ).fetchone()
    return row[0] if row else 0


def cpu_seconds(pid: int) -> float:
    """CPU used by the process and its living children (the worker's delivery processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def time_drain(first: int, last: int, total: int, worker: int) -> None:
    """Poll (bounded) until the queued feedbacks are all answered; print the rate, and what bounds it:
    the worker's own CPU per delivery (the GIL's ceiling), and the call itself as the worker timed it."""
    marks: dict[str, float] = {}
    cpu_at_first, done_at_first = 0.0, 0
    started = time.perf_counter()
    deadline = started + max(120.0, total / 5)
    with psycopg.connect(URL, autocommit=True) as conn:
        while time.perf_counter() < deadline:
            done = total - pending_between(conn, first, last)
            now = time.perf_counter()
            if done and "first" not in marks:
                marks["first"] = now
                cpu_at_first, done_at_first = cpu_seconds(worker), done
            if done >= total * 0.1 and "10%" not in marks:
                marks["10%"] = now
            if done >= total * 0.9 and "90%" not in marks:
                marks["90%"] = now
            if done >= total:
                marks["all"] = now
                break
            time.sleep(0.25)
        worker_cpu = cpu_seconds(worker)
        outcomes = conn.execute(
            "SELECT status, count(*) FROM feedback_feedback WHERE id BETWEEN %s AND %s GROUP BY status ORDER BY 1",
            (first, last),
        ).fetchall()
        calls = [
            row[0]
            for row in conn.execute(
                "SELECT duration_ms FROM feedback_deliveryattempt WHERE feedback_id BETWEEN %s AND %s "
                "AND duration_ms IS NOT NULL",
                (first, last),
            ).fetchall()
        ]
    if "all" not in marks:
        print(f"  not drained within {deadline - started:.0f} s: {dict(outcomes)}", flush=True)
        return
    whole = marks["all"] - started
    per_delivery = (worker_cpu - cpu_at_first) / max(1, total - done_at_first)
    steady = (marks["90%"] - marks["10%"]) or float("nan")
    print(
        f"  {total:,} feedbacks in {whole:.1f} s from the worker's start (Django start-up included): "
        f"{total / whole:.0f}/s; steady (10% to 90%): {total * 0.8 / steady:.0f}/s; "
        f"end states {dict(outcomes)}",
        flush=True,
    )
    print(
        f"  the call as the worker timed it: p50 {percentile(calls, 0.5):.0f}  p95 {percentile(calls, 0.95):.0f} ms; "
        f"worker CPU {per_delivery * 1000:.1f} ms a delivery, so one process could do about "
        f"{1 / per_delivery:.0f}/s before the GIL binds ({WORKER_PROCESSES} processes run)",
        flush=True,
    )


BENCH_AGENTS = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
agents = Group.objects.get(name="Agent")
for n in range({count}):
    user = User.objects.create_user(f"bench-agent-{{n}}", password="x", first_name="Agent", last_name=str(n))
    user.groups.add(agents)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(session.session_key)
"""

LEAD_LINK = re.compile(r'href="/leads/(\d+)/"')
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDEMPOTENCY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


class Agent:
    """One agent's browser: a session, the CSRF cookie, and the time each step took."""

    def __init__(self, session: str) -> None:
        self.cookies = {"sessionid": session}
        self.times: dict[str, list[float]] = {"search": [], "lead page": [], "submit": []}
        self.errors: list[str] = []

    def call(self, step: str, path: str, data: dict | None = None) -> str:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {"Cookie": cookie, "HX-Request": "true"} if step != "lead page" else {"Cookie": cookie}
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(BASE + path, data=body, headers=headers)
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                if name == "csrftoken":
                    self.cookies["csrftoken"] = rest.split(";", 1)[0]
        self.times[step].append((time.perf_counter() - started) * 1000)
        return text

    def loop(self, number: int, rounds: int) -> None:
        for n in range(rounds):
            event = f"{lead_number('agents', number * rounds + n):024x}"
            try:
                found = LEAD_LINK.search(self.call("search", f"/?q={event}"))
                if not found:
                    raise RuntimeError(f"search for {event} found no lead")
                page = self.call("lead page", f"/leads/{found[1]}/")
                csrf, key = CSRF_FIELD.search(page), IDEMPOTENCY_FIELD.search(page)
                if not (csrf and key):
                    raise RuntimeError("the lead page has no feedback form")
                form = {"csrfmiddlewaretoken": csrf[1], "idempotency_key": key[1], "feedback_type": "conversion"}
                self.call("submit", f"/feedback/lead/{found[1]}/", form)
            except Exception as error:  # counted and shown, never fatal: it is a measurement
                self.errors.append(f"{type(error).__name__}: {error}")


def agent_loop() -> None:
    """AGENTS agents at once, each AGENT_LOOPS rounds of search → lead page → submit; then submit → answer."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", BENCH_AGENTS.format(count=AGENTS)],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    agents = [Agent(session) for session in out.stdout.split()[-AGENTS:]]
    threads = [threading.Thread(target=agent.loop, args=(n, AGENT_LOOPS)) for n, agent in enumerate(agents)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    rounds = sum(len(agent.times["submit"]) for agent in agents)
    errors = [error for agent in agents for error in agent.errors]
    print(f"  {rounds:,} rounds by {AGENTS} agents in {elapsed:.1f} s: {rounds / elapsed:.1f} rounds/s", flush=True)
    for step in ("search", "lead page", "submit"):
        samples = [value for agent in agents for value in agent.times[step]]
        print(
            f"  {step:<12} p50 {percentile(samples, 0.5):7.1f}  p95 {percentile(samples, 0.95):7.1f} ms",
            flush=True,
        )
    print(f"  errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""), flush=True)
    with psycopg.connect(URL, autocommit=True) as conn:
        agent_feedback = (
            "FROM feedback_feedback f JOIN auth_user u ON u.id = f.agent_id WHERE u.username LIKE 'bench-agent-%%'"
        )
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline:
            row = conn.execute(f"SELECT count(*) {agent_feedback} AND f.status IN {PENDING}").fetchone()
            if not row or not row[0]:
                break
            time.sleep(0.5)
        waits = [
            row[0] * 1000
            for row in conn.execute(
                f"SELECT EXTRACT(EPOCH FROM f.answered_at - f.created_at) {agent_feedback} "
                "AND f.answered_at IS NOT NULL"
            ).fetchall()
        ]
        unanswered = conn.execute(f"SELECT count(*) {agent_feedback} AND f.answered_at IS NULL").fetchone()
    # Each feedback waits out the agent's undo window (FEEDBACK_UNDO_SECONDS, 5 by default) before it is sent.
    undo = int(ENV.get("FEEDBACK_UNDO_SECONDS", "5")) * 1000
    print(
        f"  submit → answer recorded: p50 {percentile(waits, 0.5):.0f}  p95 {percentile(waits, 0.95):.0f} ms "
        f"over {len(waits):,} (LeadConduit takes {LEADCONDUIT_DELAY * 1000:.0f}); "
        f"unanswered after the wait: {unanswered[0] if unanswered else 0}\n"
        f"  of which the undo window {undo} ms; after it: p50 {percentile(waits, 0.5) - undo:.0f}  "
        f"p95 {percentile(waits, 0.95) - undo:.0f} ms",
        flush=True,
    )


def warm_up(manager: str, admin: str, samples: dict) -> None:
    """A few requests of each kind first: a gunicorn worker's first requests import, compile templates
    and resolve URLs, and build each shape of search's SQL (leads.selectors.search_page), which no
    agent meets twice, and would otherwise be the first kind's p95. The searches are of every kind,
    on samples the timed ones do not use (those past RUNS), so what they read stays uncached."""
    kinds = search_kinds(samples)
    spare = range(RUNS, len(samples["phones"])) or range(len(samples["phones"]))
    for n in range(WARM_UP):
        for term in kinds.values():
            get(f"/?q={term(spare[n % len(spare)])}", manager, {"HX-Request": "true"})
        get("/", manager)
        get(f"/admin/leads/lead/?q=warm{n}", admin)
        get("/reports/audit/", admin)


def search_part(samples: dict, manager: str, admin: str) -> None:
    kinds = search_kinds(samples)
    htmx = {"HX-Request": "true"}
    print(f"\nSearch at {LEADS:,} leads (ms, p50 / p95; admin = Django admin changelist, same terms)")
    print(f"{'kind':<18}{'portal':>16}{'admin':>18}{'ratio p95':>11}")
    for kind, term in kinds.items():
        ours = timed(lambda n, term=term: get(f"/?q={term(n)}", manager, htmx))
        theirs = timed(lambda n, term=term: get(f"/admin/leads/lead/?q={term(n)}", admin), runs=max(5, RUNS // 4))
        print(
            f"{kind:<18}{ours[0]:>7.1f} / {ours[1]:>6.1f}{theirs[0]:>9.1f} / {theirs[1]:>6.1f}"
            f"{theirs[1] / ours[1]:>10.1f}x",
            flush=True,
        )


MANAGER_PAGES = {
    "history, first page": "/reports/history/",
    "history, page 200": "/reports/history/?page=200",
    "history, page 500 (the last)": "/reports/history/?page=500",
    "history, filtered by lead text": "/reports/history/?q=Smith",
    "rates and charts (12 weeks)": "/reports/",
    "needs attention": "/feedback/queue/",
    "month-end": "/reports/month/",
    "audit trail": "/reports/audit/",
    "admin lead list": "/admin/leads/lead/",
}


def pages_part(admin: str) -> None:
    print("\nManager pages (ms, p50 / p95)")
    for label, path in MANAGER_PAGES.items():
        try:
            p50, p95 = timed(lambda n, path=path: get(path, admin), runs=max(5, RUNS // 4))
            print(f"{label:<34}{p50:>8.1f} / {p95:>7.1f}", flush=True)
        except Exception as error:
            print(f"{label:<34} failed: {error}", flush=True)


def export_part(gunicorn: subprocess.Popen, manager: str) -> None:
    print("\nCSV export of every feedback")
    workers = [int(pid) for pid in subprocess.check_output(["pgrep", "-P", str(gunicorn.pid)]).split()]
    started = time.perf_counter()
    size = 0
    request = urllib.request.Request(BASE + "/reports/history.csv", headers={"Cookie": f"sessionid={manager}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 16):
            size += len(chunk)
    elapsed = time.perf_counter() - started
    print(
        f"  {size / 2**20:.0f} MiB in {elapsed:.1f} s; peak RSS of the largest gunicorn worker "
        f"{rss_peak_kib(workers) / 1024:.0f} MiB",
        flush=True,
    )


def main() -> None:
    if not REUSE:
        admin_sql(f'DROP DATABASE IF EXISTS "{NAME}"')
        admin_sql(f'CREATE DATABASE "{NAME}"')
    gunicorn = sandbox = worker = None
    try:
        if REUSE:
            print(f"Reusing {NAME} (BENCH_SCALE_REUSE) …", flush=True)
            manage("migrate", "--noinput")
            manage("collectstatic", "--noinput")
            with psycopg.connect(URL, autocommit=True) as conn:
                samples = loaded_samples(conn)
        else:
            print(f"Loading {LEADS:,} leads and feedbacks into {NAME} …", flush=True)
            manage("migrate", "--noinput")
            manage("collectstatic", "--noinput")
            manage("shell", "-c", BENCH_USERS)
            with psycopg.connect(URL, autocommit=True) as conn:
                samples = load(conn)
        gunicorn = gunicorn_process(PORT, ENV)
        manager, admin = session_cookie("bench-manager"), session_cookie("bench-admin")
        for _ in range(100):
            try:
                get("/health/", manager)
                break
            except OSError:
                time.sleep(0.2)
            except Exception:  # 503 while no worker runs: it answers, which is all we wait for
                break
        warm_up(manager, admin, samples)
        if "search" in ONLY:
            search_part(samples, manager, admin)
        if "pages" in ONLY:
            pages_part(admin)
        if "drain" in ONLY or "agents" in ONLY:
            print(
                f"\nDelivery against a LeadConduit that takes {LEADCONDUIT_DELAY * 1000:.0f} ms "
                f"(run_worker --processes {WORKER_PROCESSES} --concurrency {WORKER_CONCURRENCY}, as the Procfile)",
                flush=True,
            )
            threads = WORKER_PROCESSES * WORKER_CONCURRENCY // 2 + 4  # the calls in flight and a few more
            if STUB:
                print("  (LeadConduit: bench/stub_leadconduit.py, not the sandbox)", flush=True)
                stub = [sys.executable, "-m", "bench.stub_leadconduit", str(SANDBOX_PORT), str(LEADCONDUIT_DELAY)]
                sandbox = subprocess.Popen(stub, cwd=ROOT)
                wait_for_port(SANDBOX_PORT)
            else:
                sandbox = gunicorn_process(SANDBOX_PORT, sandbox_env(), workers=2, threads=threads, log=SANDBOX_LOG)
                wait_for(f"http://127.0.0.1:{SANDBOX_PORT}/health/")
            if "drain" in ONLY:
                first, last, queued = queue_drain(samples)  # all queued before the worker starts
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "run_worker",
                    "--processes",
                    str(WORKER_PROCESSES),
                    "--concurrency",
                    str(WORKER_CONCURRENCY),
                ],
                cwd=ROOT,
                env=ENV | {"LEADCONDUIT_FEEDBACK_URL": STUB_LEADCONDUIT if STUB else SLOW_LEADCONDUIT},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if "drain" in ONLY:
                time_drain(first, last, queued, worker.pid)
            if "agents" in ONLY:
                print(f"\n{AGENTS} agents, {AGENT_LOOPS} rounds each of search → lead page → submit", end="")
                print(" (the worker still running)", flush=True)
                agent_loop()
            if sandbox.poll() is not None:
                print(f"  the sandbox exited during the run (code {sandbox.returncode}); see {SANDBOX_LOG}", flush=True)
            stop(worker)
            stop(sandbox)
        if "export" in ONLY:
            export_part(gunicorn, manager)
    finally:
        for process in (worker, sandbox, gunicorn):
            stop(process)
        if KEEP:
            print(f"\nKept {NAME} (BENCH_SCALE_KEEP).")
        else:
            admin_sql(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
            print(f"\nDropped {NAME}.")
        for path in SANDBOX_SQLITE.parent.glob(f"{SANDBOX_SQLITE.name}*"):
            path.unlink(missing_ok=True)


FILL_SUMMARIES = """
import importlib
from django.db import connection
importlib.import_module("feedbackportal.leads.migrations.0012_feedback_summary").fill(connection)
"""

BENCH_USERS = """
from django.contrib.auth.models import Group, User
manager = User.objects.create_user("bench-manager", password="x", first_name="Bench", last_name="Manager")
manager.groups.add(Group.objects.get(name="Manager"))
admin = User.objects.create_user("bench-admin", password="x", is_staff=True, is_superuser=True)
admin.groups.add(Group.objects.get(name="Admin"))
"""

if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 16
    main()
