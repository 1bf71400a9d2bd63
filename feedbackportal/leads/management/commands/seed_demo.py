"""Demo data: leads with event ids, the sandbox's copy of those events, and one user per role."""

import csv
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from feedbackportal.feedback.caps import month_start
from feedbackportal.feedback.models import DeliveryAttempt, Feedback, Reason, Status
from feedbackportal.leads.models import Lead, Source, SourceReasonWording
from feedbackportal.sandbox.models import SandboxEvent

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Luis",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Jose",
    "Deborah",
    "Ana",
    "Maria",
    "Wei",
    "Priya",
    "Ahmed",
    "Fatima",
    "Olga",
    "Hiroshi",
    "Aisha",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Sofia",
    "Mateo",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "O'Brien",
    "Chen",
    "Patel",
    "Kowalski",
    "Schmidt",
]
CITIES = [
    ("Austin", "TX", "787", "512"),
    ("Denver", "CO", "802", "303"),
    ("Phoenix", "AZ", "850", "602"),
    ("Tampa", "FL", "336", "813"),
    ("Columbus", "OH", "432", "614"),
    ("Raleigh", "NC", "276", "919"),
    ("Portland", "OR", "972", "503"),
    ("Nashville", "TN", "372", "615"),
]
STREET_KINDS = ["St", "Ave", "Dr", "Ln"]
STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Lakeview",
    "Sunset",
    "Hillcrest",
    "Main",
    "Park",
    "Washington",
    "River",
    "Meadow",
]
# name, return window the seller enforces (days), reasons the seller accepts (empty: any)
SOURCES = [
    ("SunPeak Solar Leads", 7, []),
    ("HomeShield Insurance", 30, []),
    ("AutoCover Direct", None, ["Invalid phone", "Disconnected number", "Duplicate lead"]),
]
# The seller's cap on returns per calendar month (% of the month's leads); AutoCover's demo month sits just under it.
RETURN_CAPS = {"AutoCover Direct": Decimal(20), "HomeShield Insurance": Decimal(35)}
NEAR_CAP_SOURCE = "AutoCover Direct"
PRICES = [Decimal(price) for price in ("12.00", "18.50", "25.00", "35.00", "0.00")]
HISTORY_DAYS = 90
# Past feedback: how often a lead was returned or converted, and how LeadConduit's answers fell.
RETURN_SHARE, CONVERSION_SHARE = 0.22, 0.12
RETURN_STATUSES = [
    (Status.ACCEPTED, 66),
    (Status.REJECTED, 12),
    (Status.ERROR, 3),
    (Status.UNCONFIRMED, 8),
    (Status.FAILED, 4),
    (Status.CANCELLED, 3),
]
CONVERSION_STATUSES = [(Status.ACCEPTED, 90), (Status.UNCONFIRMED, 4), (Status.REJECTED, 6)]
REJECTIONS = ["Must provide return within 7 days", "Reason not allowed", "Feedback is forbidden"]
HISTORY_AGENTS = [("sam", "Sam", "Ortiz"), ("jordan", "Jordan", "Lee"), ("priya", "Priya", "Shah")]
# The seller's own words for a catalog reason (catalog label → text sent), per source.
WORDINGS = {"AutoCover Direct": {"Wrong number": "Invalid phone"}}
DEMO_USERS = [
    ("agent", "Alex", "Agent", "Agent", "agent-demo-pass"),
    ("manager", "Morgan", "Manager", "Manager", "manager-demo-pass"),
    ("admin", "Ada", "Admin", "Admin", "admin-demo-pass"),
]
UNKNOWN_EVENTS = 12
# LeadConduit's feedback export for the demo history, to try reconciliation on (Reports → Reconcile).
DEMO_EXPORT = Path("var") / "demo" / "leadconduit-feedback-export.csv"
EXPORT_HEADER = ["Event ID", "Type", "Outcome", "Reason", "Time", "Source", "Recipient"]
ENTERED_ELSEWHERE = 2


class Command(BaseCommand):
    help = "Seed demo leads, the sandbox's events for them, and demo users (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--export-file",
            type=Path,
            default=None,
            help=f"Where to write the sample LeadConduit export (default: {DEMO_EXPORT} in the project).",
        )

    def handle(self, *, leads: int, seed: int, export_file: Path | None, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with known passwords; it only runs with DEBUG on.")
        rng = random.Random(seed)
        with transaction.atomic():
            self._users()
            sources = self._sources()
            seeded = not Lead.objects.exists()
            if not seeded:
                self.stdout.write("Demo leads already present; left as they are.")
            else:
                self._wordings(sources)
                self._leads(rng, leads, sources)
                self._history(rng, sources)
        export = export_file or settings.BASE_DIR / DEMO_EXPORT
        if seeded or not export.exists():
            self._export(export)
        unknown = SandboxEvent.objects.exclude(event_id__in=Lead.objects.values("event_id"))[:3]
        self.stdout.write("Event ids LeadConduit knows but the portal does not (try 'Feedback by event id'):")
        for event in unknown:
            self.stdout.write(f"  {event.event_id}  ({event.first_name} {event.last_name})")

    def _users(self) -> None:
        for username, first, last, role, password in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"first_name": first, "last_name": last})
            user.set_password(password)
            user.is_staff = user.is_superuser = role == "Admin"
            user.save()
            user.groups.set([Group.objects.get(name=role)])

    def _sources(self) -> dict[str, Source]:
        sources = {}
        for name, window, _ in SOURCES:
            source, _ = Source.objects.get_or_create(
                name=name,
                defaults={
                    "slug": slugify(name),
                    "return_window_days": window,
                    "max_return_percent": RETURN_CAPS.get(name),
                },
            )
            sources[name] = source
            # Leads seeded before sources existed keep their name and now also get the source.
            Lead.objects.filter(source__isnull=True, source_name=name).update(source=source)
        return sources

    def _wordings(self, sources: dict[str, Source]) -> None:
        # Only with freshly seeded sandbox events, whose allowed reasons are these words.
        for name, wordings in WORDINGS.items():
            for label, text in wordings.items():
                reason = Reason.objects.filter(feedback_type="return", label=label).first()
                if reason is not None:
                    SourceReasonWording.objects.get_or_create(
                        source=sources[name], reason=reason, defaults={"text": text}
                    )

    def _leads(self, rng: random.Random, count: int, sources: dict[str, Source]) -> None:
        now = timezone.now()
        this_month = month_start(now)
        portal_leads, events = [], []
        for index in range(count + UNKNOWN_EVENTS):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            city, state, zip_prefix, area = rng.choice(CITIES)
            source, window, allowed = SOURCES[index % len(SOURCES)]
            received = now - timedelta(days=rng.triangular(0, HISTORY_DAYS, 3), minutes=rng.randint(0, 1440))
            if source == NEAR_CAP_SOURCE and index % 2:
                # Enough of this month's leads for its cap to mean something, even on the 1st.
                received = this_month + (now - this_month) * rng.random()
            price = rng.choice([*PRICES, None]) if index % 9 else None
            event_id = f"{rng.getrandbits(96):024x}"
            number = f"{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            phone = rng.choice(
                [
                    f"({number[:3]}) {number[3:6]}-{number[6:]}",
                    f"{number[:3]}-{number[3:6]}-{number[6:]}",
                    f"+1{number}",
                ]
            )
            domain = rng.choice(["gmail.com", "yahoo.com", "outlook.com", "icloud.com"])
            email = f"{first}.{last}{rng.randint(1, 99)}@{domain}".lower().replace("'", "")
            events.append(
                SandboxEvent(
                    event_id=event_id,
                    lead_id=f"{rng.getrandbits(96):024x}",
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone_1=phone,
                    price=price,
                    created_at=received,
                    feedback_enabled=index % 40 != 7,
                    return_window_days=window,
                    allowed_reasons="\n".join(allowed),
                )
            )
            if index < count:
                portal_leads.append(
                    Lead(
                        event_id=event_id,
                        first_name=first,
                        last_name=last,
                        email=email,
                        phone=phone,
                        address=f"{rng.randint(10, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
                        city=city,
                        state=state,
                        postal_code=f"{zip_prefix}{rng.randint(0, 99):02d}",
                        source=sources[source],
                        source_name=source,
                        received_at=received,
                        price=price,
                    )
                )
        for lead in portal_leads:
            lead.save()  # save() normalises phone and email for search
        SandboxEvent.objects.bulk_create(events)
        self.stdout.write(f"Seeded {len(portal_leads)} leads and {len(events)} sandbox events.")

    def _history(self, rng: random.Random, sources: dict[str, Source]) -> None:
        """Three months of feedback already answered: every final status, several agents, a source near its cap."""
        agents = list(User.objects.filter(username="agent"))
        for username, first, last in HISTORY_AGENTS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_unusable_password()  # names in the reports only; nobody logs in as them
                user.save()
                user.groups.set([Group.objects.get(name="Agent")])
            agents.append(user)
        returns = list(Reason.objects.filter(feedback_type="return", active=True))
        conversions = list(Reason.objects.filter(feedback_type="conversion", active=True))
        wordings: dict[tuple[int | None, int], str] = {
            (w.source_id, w.reason_id): w.text for w in SourceReasonWording.objects.all()
        }
        now = timezone.now()
        this_month = month_start(now)
        near_cap = sources[NEAR_CAP_SOURCE]
        capped_leads = Lead.objects.filter(source=near_cap, received_at__gte=this_month).count()
        # Just under the cap: one more return this month passes it (the lead page warns).
        cap = near_cap.max_return_percent or Decimal(0)
        near_cap_returns = max(0, math.ceil(capped_leads * cap / 100) - 1)
        feedbacks: list[Feedback] = []
        near_cap_made = 0
        for lead in Lead.objects.order_by("received_at"):
            is_near_cap_month = lead.source_id == near_cap.pk and lead.received_at >= this_month
            if is_near_cap_month:
                wants_return = near_cap_made < near_cap_returns
                near_cap_made += wants_return
                statuses = [(Status.ACCEPTED, 1)]
            else:
                wants_return = rng.random() < RETURN_SHARE
                statuses = RETURN_STATUSES
            if wants_return and returns:
                reason = rng.choice(returns)
                text = wordings.get((lead.source_id, reason.pk), reason.text)
                # The near-cap source's returns this month are exactly the ones counted above.
                latest = (
                    this_month - timedelta(minutes=1)
                    if lead.source_id == near_cap.pk and not is_near_cap_month
                    else now
                )
                feedbacks.append(
                    self._past(rng, lead, "return", reason, text, statuses, agents, max(latest, lead.received_at))
                )
            if rng.random() < CONVERSION_SHARE and conversions:
                reason = rng.choice(conversions)
                feedbacks.append(
                    self._past(rng, lead, "conversion", reason, reason.text, CONVERSION_STATUSES, agents, now)
                )
        Feedback.objects.bulk_create(feedbacks)
        if not all(feedback.pk for feedback in feedbacks):  # backends without RETURNING ids
            feedbacks = list(Feedback.objects.all())
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                feedback=feedback,
                number=1,
                started_at=feedback.created_at,
                finished_at=feedback.answered_at or feedback.created_at + timedelta(seconds=10),
                duration_ms=rng.randint(80, 900),
                request_method="POST",
                response_status=201 if feedback.outcome else None,
                classification="answered"
                if feedback.outcome
                else ("unknown" if feedback.status == "unconfirmed" else "not_sent"),
                outcome=feedback.outcome,
                error="" if feedback.outcome else feedback.status_message,
            )
            for feedback in feedbacks
            if feedback.status != Status.CANCELLED
        )
        self.stdout.write(f"Seeded {len(feedbacks)} past feedbacks over {HISTORY_DAYS} days.")

    def _export(self, path: Path) -> None:
        """A feedback export as LeadConduit would give it for the demo history, with a little of everything
        a reconciliation finds: most rows agree, the unconfirmed are there (all but one), one accepted
        return is missing, one is billed twice, one shows another outcome, a few were entered elsewhere."""
        rows: list[tuple[datetime, list[str]]] = []
        answered = list(
            Feedback.objects.exclude(status__in=[Status.FAILED, Status.CANCELLED])
            .select_related("lead")
            .order_by("created_at", "pk")
        )
        accepted = [feedback for feedback in answered if feedback.status == Status.ACCEPTED]
        unconfirmed = [feedback for feedback in answered if feedback.status == Status.UNCONFIRMED]
        middle = len(accepted) // 2
        chosen: list[Feedback | None] = [*accepted[middle : middle + 3], None, None, None]
        missing, twice, differs = chosen[:3]
        never_arrived = unconfirmed[-1] if unconfirmed else None

        def row(feedback: Feedback, outcome: str, reason: str, at: datetime) -> tuple[datetime, list[str]]:
            lead = feedback.lead
            return at, [
                lead.event_id,
                feedback.feedback_type,
                outcome,
                reason,
                _stamp(at),
                lead.source_name,
                "Feedback Portal",
            ]

        for feedback in answered:
            at = feedback.answered_at or feedback.created_at + timedelta(seconds=2)
            if feedback in (missing, never_arrived):
                continue
            if feedback == differs:
                rows.append(row(feedback, "failure", "Reason not allowed", at))
            elif feedback.status in (Status.ACCEPTED, Status.UNCONFIRMED):
                rows.append(row(feedback, "success", feedback.reason_text, at))
                if feedback == twice:
                    rows.append(row(feedback, "success", feedback.reason_text, at + timedelta(seconds=2)))
            elif feedback.outcome:  # rejected, or an error LeadConduit recorded
                rows.append(row(feedback, feedback.outcome, feedback.outcome_reason or feedback.status_message, at))
        returned = Feedback.objects.filter(feedback_type="return").values("lead_id")
        for lead in Lead.objects.exclude(pk__in=returned).order_by("received_at")[:ENTERED_ELSEWHERE]:
            at = lead.received_at + timedelta(days=1)
            rows.append(
                (
                    at,
                    [
                        lead.event_id,
                        "return",
                        "success",
                        "Entered in LeadConduit",
                        _stamp(at),
                        lead.source_name,
                        "LeadConduit UI",
                    ],
                )
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_HEADER)
            writer.writerows(cells for _, cells in sorted(rows, key=lambda item: item[0]))
        self.stdout.write(f"Wrote a sample LeadConduit export ({len(rows)} rows) to try reconciliation on: {path}")

    @staticmethod
    def _past(rng, lead, feedback_type, reason, text, statuses, agents, now) -> Feedback:
        status = rng.choices([s for s, _ in statuses], weights=[w for _, w in statuses])[0]
        created = max(
            lead.received_at, min(now - timedelta(minutes=5), lead.received_at + timedelta(hours=rng.uniform(0.2, 96)))
        )
        outcome = {Status.ACCEPTED: "success", Status.REJECTED: "failure", Status.ERROR: "error"}.get(status, "")
        messages = {
            Status.UNCONFIRMED: "LeadConduit did not answer within 10 s; it may have recorded it.",
            Status.FAILED: "Could not connect to LeadConduit.",
            Status.ERROR: "LeadConduit had a problem recording it: temporary platform error.",
        }
        return Feedback(
            lead=lead,
            feedback_type=feedback_type,
            reason=reason,
            reason_text=text,
            agent=rng.choice(agents),
            status=status,
            status_message=messages.get(status, ""),
            outcome=outcome,
            outcome_reason=rng.choice(REJECTIONS) if status == Status.REJECTED else "",
            attempt_count=0 if status == Status.CANCELLED else 1,
            created_at=created,
            answered_at=created + timedelta(seconds=rng.uniform(0.2, 3)) if outcome else None,
        )


def _stamp(at: datetime) -> str:
    """A time as LeadConduit's export writes it: UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
