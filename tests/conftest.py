import itertools
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from feedbackportal.feedback.models import Reason
from feedbackportal.leadconduit import client as leadconduit_client
from feedbackportal.leads.models import Lead
from feedbackportal.sandbox.models import SandboxEvent
from tests.helpers import logged_in, member
from tests.leadconduit.raw_http import RawServer, Respond

_counter = itertools.count(1)


def new_event_id() -> str:
    return uuid.uuid4().hex[:24]


@pytest.fixture(autouse=True)
def _fresh_http_session():
    # Each test may point the client at a different live server; never reuse a pooled connection.
    leadconduit_client.reset_session()
    yield
    leadconduit_client.reset_session()


@pytest.fixture
def sandbox_url(live_server, settings) -> str:
    """Point the LeadConduit client at the embedded sandbox, served over real HTTP."""
    settings.LEADCONDUIT_FEEDBACK_URL = f"{live_server.url}/sandbox/feedback"
    return settings.LEADCONDUIT_FEEDBACK_URL


@pytest.fixture
def fault_url(live_server, settings):
    """Point the client at one of the sandbox's fault modes: fault_url("503")."""

    def point(fault: str, query: str = "") -> str:
        settings.LEADCONDUIT_FEEDBACK_URL = f"{live_server.url}/sandbox/fault/{fault}/feedback{query}"
        return settings.LEADCONDUIT_FEEDBACK_URL

    return point


@pytest.fixture
def closed_port_url(settings):
    """Point the client at a local port that refuses connections: bound (so nobody else gets it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.LEADCONDUIT_FEEDBACK_URL = f"http://127.0.0.1:{sock.getsockname()[1]}/feedback"
        yield settings.LEADCONDUIT_FEEDBACK_URL


@pytest.fixture
def make_event(db):
    """A delivery event the sandbox knows (and the seller's rules for it)."""

    def make(**fields) -> SandboxEvent:
        n = next(_counter)
        defaults = {
            "event_id": new_event_id(),
            "lead_id": new_event_id(),
            "first_name": "Joe",
            "last_name": f"Blow{n}",
            "email": f"Joe.Blow{n}@Example.com",
            "phone_1": "(512) 555-1212",
        }
        return SandboxEvent.objects.create(**(defaults | fields))

    return make


@pytest.fixture
def make_lead(db):
    def make(**fields) -> Lead:
        n = next(_counter)
        defaults = {
            "event_id": new_event_id(),
            "first_name": "Jane",
            "last_name": f"Doe{n}",
            "email": f"jane.doe{n}@example.com",
            "phone": "(512) 555-0100",
            "received_at": timezone.now(),
        }
        return Lead.objects.create(**(defaults | fields))

    return make


@pytest.fixture
def lead_with_event(make_lead, make_event):
    """A lead the portal knows, whose event the sandbox knows too."""
    event = make_event()
    return make_lead(
        event_id=event.event_id,
        first_name=event.first_name,
        last_name=event.last_name,
        email=event.email,
        phone=event.phone_1,
    )


@pytest.fixture
def return_reason(db) -> Reason:
    return Reason.objects.get(feedback_type="return", label="Wrong number")


@pytest.fixture
def conversion_reason(db) -> Reason:
    return Reason.objects.get(feedback_type="conversion", label="Sale closed")


@pytest.fixture
def agent(db) -> User:
    user = User.objects.create_user("agent1", password="pw", first_name="Alex", last_name="Agent")
    user.groups.add(Group.objects.get(name="Agent"))
    return user


@pytest.fixture
def manager(db) -> User:
    user = User.objects.create_user("manager1", password="pw", first_name="Maria", last_name="Manager")
    user.groups.add(Group.objects.get(name="Manager"))
    return user


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def run_worker():
    """Run the real database worker until no task is ready (tasks scheduled for later stay queued)."""

    def run() -> None:
        Worker(
            queue_names=["default"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="test-worker",
            excluded_queue_names=[],
        ).run()

    return run


@pytest.fixture
def raw_server(settings) -> Iterator[Callable[[Respond], RawServer]]:
    """Start a RawServer with a respond function and point the LeadConduit client at it."""
    servers: list[RawServer] = []

    def start(respond: Respond) -> RawServer:
        server = RawServer(respond)
        servers.append(server)
        settings.LEADCONDUIT_FEEDBACK_URL = server.url
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def admin_member(db) -> User:
    """A user in the Admin role who is not a superuser."""
    return member("admin1", "Admin", first_name="Ada", last_name="Admin")


@pytest.fixture
def admin_member_client(admin_member) -> Client:
    return logged_in(admin_member)
