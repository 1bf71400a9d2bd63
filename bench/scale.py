"""`make bench-scale`: one million leads and feedbacks on PostgreSQL, served by gunicorn as the Procfile does.

Creates its own database (BENCH_SCALE_DATABASE, default fp_bench_scale, on BENCH_PG, default
postgres://postgres@127.0.0.1:5432), loads BENCH_SCALE_LEADS leads (default 1,000,000) and as many
feedbacks with COPY, starts gunicorn on 127.0.0.1:BENCH_SCALE_PORT (default 8103) with the
Procfile's options, and prints p50 / p95 for every agent search kind beside the Django admin's
changelist search on the same terms, every manager page, and the full CSV export (time, peak RSS
of the gunicorn worker). Then stops gunicorn and drops the database. Loopback only; every loop is
bounded. Figures, not pass/fail: on a busy 2-core machine they are noisy.
"""

import io
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
NAME = os.environ.get("BENCH_SCALE_DATABASE", "fp_bench_scale")
LEADS = int(os.environ.get("BENCH_SCALE_LEADS", "1000000"))
PORT = int(os.environ.get("BENCH_SCALE_PORT", "8103"))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "40"))
URL = f"{SERVER}/{NAME}"
BASE = f"http://127.0.0.1:{PORT}"

FIRST = [f"First{n}" for n in range(400)] + ["Mary", "John", "James", "Maria", "David", "Linda"]
LAST = [f"Last{n}" for n in range(2000)] + ["Smith", "Johnson", "Garcia", "Brown", "Smithers"]
ENV = os.environ | {
    "DATABASE_URL": URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-scale-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1",
    "LEADCONDUIT_FEEDBACK_URL": "http://127.0.0.1:9/feedback",
    "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
    "SECURE_SSL_REDIRECT": "false",
}


def admin_sql(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)


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
    print(f"  feedbacks: {LEADS:,} in {time.perf_counter() - started:.0f} s", flush=True)
    conn.execute("ANALYZE")
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


def main() -> None:
    admin_sql(f'DROP DATABASE IF EXISTS "{NAME}"')
    admin_sql(f'CREATE DATABASE "{NAME}"')
    gunicorn = None
    try:
        print(f"Loading {LEADS:,} leads and feedbacks into {NAME} …", flush=True)
        manage("migrate", "--noinput")
        manage("collectstatic", "--noinput")
        manage("shell", "-c", BENCH_USERS)
        with psycopg.connect(URL, autocommit=True) as conn:
            samples = load(conn)
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "feedbackportal.wsgi",
                "--bind",
                f"127.0.0.1:{PORT}",
                "--workers",
                "3",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        manager, admin = session_cookie("bench-manager"), session_cookie("bench-admin")
        for _ in range(100):
            try:
                get("/health/", manager)
                break
            except OSError:
                time.sleep(0.2)
            except Exception:  # 503 while no worker runs: it answers, which is all we wait for
                break
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
        print("\nManager pages (ms, p50 / p95)")
        pages = {
            "history, first page": "/reports/history/",
            "history, page 200": "/reports/history/?page=200",
            "history, filtered by lead text": "/reports/history/?q=Smith",
            "rates and charts (12 weeks)": "/reports/",
            "needs attention": "/feedback/queue/",
            "month-end": "/reports/month/",
            "audit trail": "/reports/audit/",
            "admin lead list": "/admin/leads/lead/",
        }
        for label, path in pages.items():
            try:
                p50, p95 = timed(lambda n, path=path: get(path, admin), runs=max(5, RUNS // 4))
                print(f"{label:<34}{p50:>8.1f} / {p95:>7.1f}", flush=True)
            except Exception as error:
                print(f"{label:<34} failed: {error}", flush=True)
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
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        admin_sql(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        print(f"\nDropped {NAME}.")


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
