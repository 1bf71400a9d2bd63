"""Demo data: leads with event ids, the sandbox's copy of those events, and one user per role."""

import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from feedbackportal.feedback.models import Reason
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
# The seller's own words for a catalog reason (catalog label → text sent), per source.
WORDINGS = {"AutoCover Direct": {"Wrong number": "Invalid phone"}}
DEMO_USERS = [
    ("agent", "Alex", "Agent", "Agent", "agent-demo-pass"),
    ("manager", "Morgan", "Manager", "Manager", "manager-demo-pass"),
    ("admin", "Ada", "Admin", "Admin", "admin-demo-pass"),
]
UNKNOWN_EVENTS = 12


class Command(BaseCommand):
    help = "Seed demo leads, the sandbox's events for them, and demo users (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *, leads: int, seed: int, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with known passwords; it only runs with DEBUG on.")
        rng = random.Random(seed)
        with transaction.atomic():
            self._users()
            sources = self._sources()
            if Lead.objects.exists():
                self.stdout.write("Demo leads already present; left as they are.")
            else:
                self._wordings(sources)
                self._leads(rng, leads, sources)
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
                name=name, defaults={"slug": slugify(name), "return_window_days": window}
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
        portal_leads, events = [], []
        for index in range(count + UNKNOWN_EVENTS):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            city, state, zip_prefix, area = rng.choice(CITIES)
            source, window, allowed = SOURCES[index % len(SOURCES)]
            received = now - timedelta(days=rng.triangular(0, 75, 3), minutes=rng.randint(0, 1440))
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
                    price=rng.choice([None, 12, 18, 25, 35]),
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
                    )
                )
        for lead in portal_leads:
            lead.save()  # save() normalises phone and email for search
        SandboxEvent.objects.bulk_create(events)
        self.stdout.write(f"Seeded {len(portal_leads)} leads and {len(events)} sandbox events.")
