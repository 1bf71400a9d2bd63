"""`make chaos`: submit many feedbacks while LeadConduit flaps and workers are SIGKILLed; count losses.

    python -m chaos [--feedbacks 1000] [--database sqlite|postgres] [--kills 6]

Starts, on loopback only: the portal under gunicorn (its embedded sandbox plays LeadConduit), a
flapping TCP proxy in front of it (refused connections, 503s, dropped answers, slow answers), and
two delivery workers (``run_worker``) that are killed with SIGKILL and restarted at random. When
the queue has settled it prints what happened and exits non-zero if a feedback was lost or an
answered feedback was sent twice.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feedbacks", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs sent to workers while feedback flows")
    parser.add_argument("--submit-seconds", type=float, default=25.0, help="spread the submissions over this long")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def prepare_environment(args: argparse.Namespace, proxy_port: int) -> dict[str, str]:
    if args.database == "postgres":
        import psycopg

        name = "feedbackportal_chaos"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='fp-chaos-')}/chaos.sqlite3"
    env = {
        "DEBUG": "true",
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LEADCONDUIT_FEEDBACK_URL": f"http://127.0.0.1:{proxy_port}/sandbox/feedback",
        "LEADCONDUIT_TIMEOUT": "1.5",
        "LEADCONDUIT_RETRY_BASE_SECONDS": "0.3",
        "LEADCONDUIT_MAX_ATTEMPTS": "10",
        "SWEEP_GRACE_SECONDS": "3",
        "WORKER_STALE_SECONDS": "10",
        "LOG_LEVEL": "ERROR",
        "DJANGO_SETTINGS_MODULE": "feedbackportal.settings",
    }
    os.environ.update(env)
    return os.environ.copy()


class Workers:
    """Delivery worker processes that can be killed and replaced."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self.env = env
        self.procs = [self._spawn() for _ in range(count)]
        self.kills = 0

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--interval", "0.2", "--sweep-every", "1"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.procs))
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait()
        self.kills += 1
        time.sleep(rng.uniform(0.1, 1.0))
        self.procs[index] = self._spawn()

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    args = parse_args()
    rng = random.Random(args.seed)
    web_port, proxy_port = free_port(), free_port()
    env = prepare_environment(args, proxy_port)

    import django

    django.setup()
    from django.core.management import call_command

    from chaos.proxy import FlappingProxy
    from feedbackportal.feedback.models import PENDING_STATUSES, DeliveryAttempt, Feedback, Reason
    from feedbackportal.feedback.services import submit_feedback
    from feedbackportal.leads.models import Lead
    from feedbackportal.sandbox.models import SandboxCall, SandboxEvent

    call_command("migrate", verbosity=0)
    events = [
        SandboxEvent(
            event_id=f"{rng.getrandbits(96):024x}", lead_id=f"{n:024x}", first_name="Chaos", last_name=f"Lead{n}"
        )
        for n in range(args.feedbacks)
    ]
    SandboxEvent.objects.bulk_create(events)
    leads = Lead.objects.bulk_create(
        [Lead(event_id=e.event_id, first_name=e.first_name, last_name=e.last_name) for e in events]
    )
    reasons = {
        "return": Reason.objects.get(feedback_type="return", label="Wrong number"),
        "conversion": Reason.objects.get(feedback_type="conversion", label="Sale closed"),
    }

    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "feedbackportal.wsgi",
            "-b",
            f"127.0.0.1:{web_port}",
            "-w",
            "2",
            "--threads",
            "8",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(web_port)
    proxy = FlappingProxy(listen_port=proxy_port, upstream_port=web_port, slow_seconds=2.5)
    proxy.start()
    workers = Workers(env, count=2)
    started = time.monotonic()
    print(f"Chaos on {args.database}: {args.feedbacks} feedbacks, {args.kills} worker kills, target flapping")

    flapper = threading.Thread(
        target=proxy.flap,
        kwargs={
            "until": started + args.submit_seconds + 10,
            "rng": random.Random(args.seed + 1),
            "weights": {"ok": 3, "refuse": 1.5, "unavailable": 1.5, "drop": 1, "slow": 1},
        },
    )
    flapper.start()

    def killer() -> None:
        kill_rng = random.Random(args.seed + 2)
        for _ in range(args.kills):
            time.sleep(kill_rng.uniform(1.0, (args.submit_seconds + 10) / max(args.kills, 1)))
            workers.kill_one(kill_rng)

    kill_thread = threading.Thread(target=killer)
    kill_thread.start()

    submitted = 0
    pause = args.submit_seconds / max(args.feedbacks, 1)
    for index, lead in enumerate(leads):
        feedback_type = "return" if index % 4 else "conversion"
        submit_feedback(lead=lead, feedback_type=feedback_type, reason=reasons[feedback_type])
        submitted += 1
        time.sleep(pause)
    kill_thread.join()
    flapper.join()
    print(f"Submitted {submitted} in {time.monotonic() - started:.0f} s; {workers.kills} kills; waiting to settle…")

    deadline = time.monotonic() + args.settle_timeout
    pending = Feedback.objects.filter(status__in=PENDING_STATUSES).count()
    while pending and time.monotonic() < deadline:
        time.sleep(1)
        pending = Feedback.objects.filter(status__in=PENDING_STATUSES).count()
    settled_after = time.monotonic() - started
    workers.stop()
    proxy.stop()
    web.terminate()
    web.wait(timeout=20)

    statuses = Counter(Feedback.objects.values_list("status", flat=True))
    rows = sum(statuses.values())
    answered_calls = Counter(SandboxCall.objects.filter(status__in=(201, 409)).values_list("event_id", flat=True))
    by_event = dict(Feedback.objects.values_list("lead__event_id", "status"))
    duplicates = sum(1 for event_id, calls in answered_calls.items() if calls > 1)
    accepted_unseen = sum(1 for e, s in by_event.items() if s == "accepted" and not answered_calls.get(e))
    failed_but_sent = sum(1 for e, s in by_event.items() if s == "failed" and answered_calls.get(e))
    lost = (submitted - rows) + pending
    attempts = Counter(DeliveryAttempt.objects.values_list("classification", flat=True))

    print()
    print(f"  database                      {args.database}")
    print(f"  submitted                     {submitted}")
    for status in ("accepted", "rejected", "error", "unconfirmed", "failed"):
        print(f"  {status:<29} {statuses.get(status, 0)}")
    print(f"  still pending at the end      {pending}")
    print(f"  lost                          {lost}")
    print(f"  duplicate sends (answered)    {duplicates}")
    print(f"  accepted, LeadConduit unaware {accepted_unseen}")
    print(f"  'not delivered', but received {failed_but_sent}")
    print(f"  calls the sandbox answered    {sum(answered_calls.values())}")
    print(f"  delivery attempts recorded    {attempts.total()} {dict(attempts)}")
    print(f"  proxy connections by mode     {dict(proxy.counts)}")
    print(f"  proxy mode changes            {Counter(mode for _, mode in proxy.history)}")
    print(f"  worker SIGKILLs               {workers.kills}")
    print(f"  settled after                 {settled_after:.0f} s")
    ok = lost == 0 and duplicates == 0 and accepted_unseen == 0 and failed_but_sent == 0
    print("\nRESULT:", "nothing lost, nothing sent twice" if ok else "INVARIANT BROKEN")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
