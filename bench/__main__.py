"""`make bench`: figures for search speed at scale, recording feedback, and the manager's pages.

Builds a throw-away SQLite database (or uses BENCH_DATABASE_URL), fills it with leads and prints
median and 95th-percentile timings. Figures, not pass/fail: a busy machine gives slower numbers.

`python -m bench --imports` instead times CSV imports: BENCH_IMPORT_ROWS leads (default 50,000)
created, then the same file again (every row an update) under tracemalloc for the peak memory,
then BENCH_FEEDBACK_ROWS bulk conversions (default 5,000).
"""

import csv
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path

LEADS = int(os.environ.get("BENCH_LEADS", "100000"))
workdir = tempfile.mkdtemp(prefix="fp-bench-")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
os.environ.setdefault("DEBUG", "true")
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feedbackportal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from feedbackportal.feedback.models import Feedback, Reason  # noqa: E402
from feedbackportal.feedback.services import submit_feedback  # noqa: E402
from feedbackportal.leadconduit.wire import decode_result, encode_feedback  # noqa: E402
from feedbackportal.leads.models import Lead, phone_digits  # noqa: E402


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def report(label: str, fn, runs: int = 50) -> None:
    median, p95 = timed(fn, runs)
    print(f"  {label:<44} median {median:8.2f} ms   p95 {p95:8.2f} ms")


def main() -> None:
    call_command("migrate", verbosity=0)
    print(f"Database: {os.environ['DATABASE_URL']}")
    started = time.perf_counter()
    batch = []
    for n in range(LEADS):
        phone = f"({500 + n % 400}) {200 + n % 700:03d}-{n % 10000:04d}"
        batch.append(
            Lead(
                event_id=f"{uuid.uuid4().hex[:24]}",
                first_name=f"First{n % 5000}",
                last_name=f"Last{n}",
                email=f"person{n}@example.com",
                phone=phone,
                phone_digits=phone_digits(phone),
            )
        )
        if len(batch) == 5000:
            Lead.objects.bulk_create(batch)
            batch = []
    Lead.objects.bulk_create(batch)
    print(f"Inserted {LEADS:,} leads in {time.perf_counter() - started:.1f} s\n")

    sample = Lead.objects.order_by("?").first() if LEADS < 200000 else Lead.objects.first()
    user = User.objects.create_user("bench", password="bench")
    user.groups.add(Group.objects.get(name="Agent"))  # every portal page needs a role
    client = Client()
    client.force_login(user)

    print("Search (selector, first 26 rows):")
    for label, query in [
        ("phone, formatted", sample.phone),
        ("phone, last 7 digits", sample.phone_digits[-7:]),
        ("email", sample.email),
        ("last name", sample.last_name),
        ("'last, first'", f"{sample.last_name}, {sample.first_name}"),
        ("'first last'", f"{sample.first_name} {sample.last_name}"),
        ("event id", sample.event_id),
        ("event id prefix (8)", sample.event_id[:8]),
    ]:
        report(label, lambda q=query: list(Lead.objects.search(q)[:26]))

    print("\nPages (Django test client, whole request):")

    def page(path: str, **extra):
        def fetch():
            response = client.get(path, **extra)
            assert response.status_code == 200, response.status_code

        return fetch

    report("search page, htmx partial", page(f"/?q={sample.last_name}", HTTP_HX_REQUEST="true"))
    report("lead page", page(f"/leads/{sample.pk}/"))

    print("\nRecording feedback (row + task in one transaction):")
    reason = Reason.objects.filter(feedback_type="conversion").first()
    leads = iter(Lead.objects.order_by("pk")[:200])
    report(
        "submit_feedback",
        lambda: submit_feedback(lead=next(leads), feedback_type="conversion", reason=reason, agent=user),
        runs=200,
    )

    print("\nWire format (pure Python):")
    body = b'{"outcome":"success","lead":{"id":"57913b9911c754b2cb643cf3","first_name":"Joe","phone_1":"5125551212"}}'
    xml = b'<?xml version="1.0"?><result><outcome>success</outcome><reason/><lead><id>1</id></lead></result>'
    report("encode xml request", lambda: encode_feedback("xml", "return", "Wrong number"), runs=2000)
    report("decode json result", lambda: decode_result(body, "application/json"), runs=2000)
    report("decode xml result (defusedxml)", lambda: decode_result(xml, "text/xml"), runs=2000)

    reports_bench()


def reports_bench() -> None:
    """The manager's pages over BENCH_FEEDBACKS feedbacks (default 300,000) spread over 26 weeks."""
    count = int(os.environ.get("BENCH_FEEDBACKS", "300000"))
    started = time.perf_counter()
    lead_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    reasons = list(Reason.objects.all())
    agents = [User.objects.create_user(f"agent{n}", password="x") for n in range(20)]
    # One live feedback per lead and type at most (the database insists): the first round over the
    # leads may be live, later rounds are answered-and-refused or given up.
    live = ["accepted", "accepted", "accepted", "unconfirmed", "rejected", "error", "failed"]
    settled = ["rejected", "error", "failed", "cancelled"]
    now = timezone.now()
    batch = []
    for n in range(count):
        reason = reasons[n % len(reasons)]
        batch.append(
            Feedback(
                lead_id=lead_ids[n % len(lead_ids)],
                feedback_type=reason.feedback_type,
                reason=reason,
                reason_text=reason.text,
                agent=agents[n % len(agents)],
                status=live[n % len(live)] if 200 <= n < len(lead_ids) else settled[n % len(settled)],
                outcome="success" if n % 7 < 3 else "",
                created_at=now - timedelta(days=n % 182, seconds=n % 86400),
            )
        )
        if len(batch) == 10000:
            Feedback.objects.bulk_create(batch)
            batch = []
    Feedback.objects.bulk_create(batch)
    print(f"\nInserted {count:,} feedbacks in {time.perf_counter() - started:.1f} s")

    manager = User.objects.create_user("bench-manager", password="x")
    manager.groups.add(Group.objects.get(name="Manager"))
    client = Client()
    client.force_login(manager)
    sample = Lead.objects.filter(feedbacks__isnull=False).first()

    def page(path: str):
        def fetch():
            assert client.get(path).status_code == 200

        return fetch

    print("Manager's pages (whole request):")
    report("history, no filter", page("/reports/history/"), runs=10)
    report("history, type + status", page("/reports/history/?type=return&status=rejected"), runs=10)
    report("history, lead text (last name)", page(f"/reports/history/?q={sample.last_name}"), runs=10)
    report("history, page 500", page("/reports/history/?page=500"), runs=10)
    report("rates and charts (12 weeks)", page("/reports/"), runs=5)
    report("month-end reconciliation", page("/reports/month/"), runs=10)
    report("needs attention queue", page("/feedback/queue/"), runs=10)
    started = time.perf_counter()
    response = client.get("/reports/history.csv")
    size = sum(len(chunk) for chunk in response.streaming_content)
    print(f"  CSV of all {count:,} rows: {size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s")


def import_bench() -> None:
    from feedbackportal.imports import lead_batches, runner
    from feedbackportal.imports.csv_reader import guess_mapping
    from feedbackportal.imports.feedback_preview import FeedbackPreview
    from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
    from feedbackportal.imports.services import import_job_confirm, import_job_create

    rows = int(os.environ.get("BENCH_IMPORT_ROWS", "50000"))
    feedback_rows = int(os.environ.get("BENCH_FEEDBACK_ROWS", "5000"))
    call_command("migrate", verbosity=0)
    print(f"Database: {os.environ['DATABASE_URL']}")
    path = Path(workdir) / "leads.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Event ID", "First Name", "Last Name", "Email", "Phone 1", "City", "State", "Zip"])
        for n in range(rows):
            phone = f"({500 + n % 400}) {200 + n % 700:03d}-{n % 10000:04d}"
            writer.writerow(
                [
                    uuid.uuid4().hex[:24],
                    f"First{n % 5000}",
                    f"Last{n}",
                    f"p{n}@example.com",
                    phone,
                    "Austin",
                    "TX",
                    "78701",
                ]
            )
    header = next(csv.reader(path.open()))
    mapping = guess_mapping(header)
    print(f"File: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB\n")

    def run(label: str, *, traced: bool, kind: str = ImportKind.LEADS, file: Path = path, **fields) -> None:
        job = import_job_create(kind=kind, uploaded=None, name=file.name, **fields)
        job = timed_run(label, job, file, traced=traced)
        if job.status == ImportStatus.CONFIRM:  # bulk feedback: that was the preview; now send it
            import_job_confirm(job=job, user=None, run_in_worker=False)
            timed_run("  then, confirmed, the import", job, file, traced=traced)

    def timed_run(label: str, job: ImportJob, file: Path, *, traced: bool) -> ImportJob:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        job = runner.run_import(job, lambda: file.open("rb"))
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else None
        tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        rows = job.processed or job.total_rows or 0
        counts = f"{job.created_count:,} created, {job.updated_count:,} updated, {job.skipped_count:,} skipped"
        if job.status == ImportStatus.CONFIRM:
            counts = f"preview: {FeedbackPreview.of(job).send:,} to send"
        print(f"  {label:<34} {elapsed:7.1f} s  {rows / elapsed:8,.0f} rows/s   ({counts}, {job.status})")
        memory = f"peak Python allocations {peak / 1e6:.1f} MB (tracemalloc, which slows the run)" if traced else ""
        print(f"  {'':<34} process peak RSS grew {rss_growth / 1024:.1f} MB{'; ' + memory if memory else ''}")
        return job

    print(f"Lead import (streamed, batches of {lead_batches.BATCH_SIZE}):")
    run(f"{rows:,} new leads", traced=False, column_mapping=mapping)
    run(f"the same {rows:,} again (updates)", traced=True, column_mapping=mapping)

    from feedbackportal.leads.models import Lead

    feedback_path = Path(workdir) / "conversions.csv"
    with feedback_path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Event ID", "Reason"])
        for event_id in Lead.objects.values_list("event_id", flat=True)[:feedback_rows].iterator():
            writer.writerow([event_id, "Sale closed"])
    print("\nBulk feedback (the preview, then each row through submit_feedback and the outbox):")
    run(
        f"{feedback_rows:,} conversions",
        traced=False,
        kind=ImportKind.FEEDBACK,
        file=feedback_path,
        feedback_type="conversion",
    )


if __name__ == "__main__":
    import_bench() if "--imports" in sys.argv else main()
