"""`make bench`: figures for search speed at scale and for recording feedback.

Builds a throw-away SQLite database (or uses BENCH_DATABASE_URL), fills it with leads and prints
median and 95th-percentile timings. Figures, not pass/fail: a busy machine gives slower numbers.
"""

import os
import statistics
import tempfile
import time
import uuid

LEADS = int(os.environ.get("BENCH_LEADS", "100000"))
workdir = tempfile.mkdtemp(prefix="fp-bench-")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
os.environ.setdefault("DEBUG", "true")
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feedbackportal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from feedbackportal.feedback.models import Reason  # noqa: E402
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


if __name__ == "__main__":
    main()
