"""Who reaches what: every page of the portal, for every role (anonymous → login, wrong role → 403)."""

import uuid
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse

from feedbackportal.feedback.models import Feedback, Status
from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus
from feedbackportal.urls import urlpatterns as portal_urlpatterns
from tests.helpers import logged_in, member

AGENT_PAGES = ["leads:search", "feedback:for_event", "leads:detail"]
MANAGER_PAGES = [
    "feedback:queue",
    "feedback:detail",
    "reports:rates",
    "reports:history",
    "reports:export",
    "reports:month",
    "reports:audit",
    "reports:reconcile",
]
ADMIN_PAGES = ["admin:index", "admin:feedback_reason_changelist", "admin:feedback_reasonchange_changelist"]
ROLES = ["anonymous", "no role", "Agent", "Manager", "Admin"]
# What each role may open; everything else is refused.
ALLOWED = {
    "anonymous": set(),
    "no role": set(),
    "Agent": set(AGENT_PAGES),
    "Manager": {*AGENT_PAGES, *MANAGER_PAGES},
    "Admin": {*AGENT_PAGES, *MANAGER_PAGES, *ADMIN_PAGES},
}

# Every URL pattern in the URLconf, by who may use it, and the method that uses it. A new URL that is
# not in this table fails test_every_url_in_the_urlconf_is_classified: decide who it is for.
PUBLIC, ANY_ROLE, AGENT, MANAGER, ADMIN = "public", "any role", "agent", "manager", "admin"
ROUTES: dict[str, tuple[str, str]] = {
    "login": (PUBLIC, "GET"),
    "health": (PUBLIC, "GET"),
    "leads:intake": (PUBLIC, "POST"),  # its own token, see tests/intake
    "sandbox:feedback": (PUBLIC, "POST"),  # development only
    "sandbox:fault": (PUBLIC, "POST"),
    "logout": (ANY_ROLE, "POST"),  # a user without a role must still be able to leave
    "leads:search": (AGENT, "GET"),
    "leads:detail": (AGENT, "GET"),
    "leads:pop": (AGENT, "GET"),
    "feedback:create": (AGENT, "POST"),
    "feedback:for_event": (AGENT, "GET"),
    "feedback:status": (AGENT, "GET"),
    "feedback:queue": (MANAGER, "GET"),
    "feedback:detail": (MANAGER, "GET"),
    "feedback:resend": (MANAGER, "POST"),
    "feedback:confirm": (MANAGER, "POST"),
    "feedback:undo": (AGENT, "POST"),
    "feedback:cancel": (MANAGER, "POST"),
    "reports:rates": (MANAGER, "GET"),
    "reports:history": (MANAGER, "GET"),
    "reports:export": (MANAGER, "GET"),
    "reports:money_export": (MANAGER, "GET"),
    "reports:month": (MANAGER, "GET"),
    "reports:audit": (MANAGER, "GET"),
    "imports:list": (MANAGER, "GET"),
    "imports:upload_leads": (MANAGER, "GET"),
    "imports:upload_feedback": (MANAGER, "GET"),
    "imports:detail": (MANAGER, "GET"),
    "imports:mapping": (MANAGER, "GET"),
    "imports:results": (MANAGER, "GET"),
    "imports:confirm": (MANAGER, "POST"),
    "imports:cancel": (MANAGER, "POST"),
    "reports:reconcile": (MANAGER, "GET"),
    "reports:reconciliation": (MANAGER, "GET"),
    "reports:reconcile_mapping": (MANAGER, "GET"),
    "reports:reconcile_confirm": (MANAGER, "POST"),
    "reports:reconcile_rows_csv": (MANAGER, "GET"),
    "reports:reconcile_group_csv": (MANAGER, "GET"),
}
# The Django admin is one classified whole: the admin site lets in staff only (Admin role and
# superusers) and checks each model's permissions itself; ADMIN_PAGES samples it above.
ADMIN_NAMESPACE = "admin"
ROLES_OF = {
    PUBLIC: set(ROLES),
    ANY_ROLE: {"no role", "Agent", "Manager", "Admin"},
    AGENT: {"Agent", "Manager", "Admin"},
    MANAGER: {"Manager", "Admin"},
}


def walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern under these, with its full name (namespaces joined by ":")."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from walk(entry.url_patterns, namespace)
        else:
            yield f"{prefix}{entry.name}" if entry.name else f"{prefix}<unnamed {entry.pattern}>", entry


def urlconf_names() -> set[str]:
    return {name for name, _ in walk(get_resolver().url_patterns) if not name.startswith(f"{ADMIN_NAMESPACE}:")}


@pytest.fixture
def urls(add_feedback) -> dict[str, str]:
    feedback = add_feedback(status=Status.FAILED)
    with_pk = {"leads:detail": feedback.lead.pk, "feedback:detail": feedback.pk}
    return {
        name: reverse(name, kwargs={"pk": with_pk[name]}) if name in with_pk else reverse(name)
        for name in [*AGENT_PAGES, *MANAGER_PAGES, *ADMIN_PAGES]
    }


@pytest.fixture
def route_urls(add_feedback) -> dict[str, str]:
    feedback = add_feedback(status=Status.FAILED)
    job = ImportJob.objects.create(kind=ImportKind.LEADS, status=ImportStatus.DONE, original_name="leads.csv")
    reconciliation = ImportJob.objects.create(
        kind=ImportKind.RECONCILIATION, status=ImportStatus.DONE, original_name="export.csv"
    )
    kwargs = {
        "leads:detail": {"pk": feedback.lead.pk},
        "leads:intake": {"slug": "no-such-source"},
        "sandbox:fault": {"fault": "503"},
        "feedback:create": {"lead_pk": feedback.lead.pk},
        **{name: {"pk": feedback.pk} for name in ROUTES if name.startswith("feedback:") and name[9:] in PK_VIEWS},
        **{name: {"pk": job.pk} for name in ROUTES if name.startswith("imports:") and name[8:] in PK_VIEWS},
        **{name: {"pk": reconciliation.pk} for name in RECONCILIATION_VIEWS},
        "reports:reconcile_group_csv": {"pk": reconciliation.pk, "group": "agree"},
    }
    return {name: reverse(name, kwargs=kwargs.get(name)) for name in ROUTES}


RECONCILIATION_VIEWS = [
    "reports:reconciliation",
    "reports:reconcile_mapping",
    "reports:reconcile_confirm",
    "reports:reconcile_rows_csv",
]
PK_VIEWS = {"status", "detail", "resend", "confirm", "cancel", "undo", "mapping", "results"}


def client_for(role: str) -> Client:
    if role == "anonymous":
        return Client()
    if role == "no role":
        return logged_in(User.objects.create_user("someone-without-a-role", password="pw"))
    return logged_in(member(f"someone-{role.lower()}", role))


def test_every_url_in_the_urlconf_is_classified():
    names = urlconf_names()
    assert not {name for name in names if "<unnamed" in name}, "every URL needs a name to be classified"
    assert names - ROUTES.keys() == set(), "classify each new URL in ROUTES: who may use it?"
    assert ROUTES.keys() - names == set(), "ROUTES names URLs the URLconf no longer has"
    assert any(name.startswith(f"{ADMIN_NAMESPACE}:") for name, _ in walk(get_resolver().url_patterns))


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_by_its_class(db, route_urls, role):
    client = client_for(role)
    # Logging out last: it ends the session the other requests need.
    for name, url in sorted(route_urls.items(), key=lambda item: item[0] == "logout"):
        category, method = ROUTES[name]
        response = client.post(url) if method == "POST" else client.get(url)
        to_login = response.status_code == 302 and response["Location"].startswith(reverse("login") + "?")
        if role in ROLES_OF[category]:
            assert response.status_code != 403, (role, name)
            assert not to_login, (role, name)
        elif role == "anonymous":
            assert to_login, (role, name)
        else:
            assert response.status_code == 403, (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_by_its_lane(db, urls, role):
    client = client_for(role)
    for name, url in urls.items():
        response = client.get(url)
        if name in ALLOWED[role]:
            assert response.status_code == 200, (role, name)
        elif role == "anonymous":
            assert response.status_code == 302, name
            # The admin index sends to the admin's own login form; every other page to the portal's.
            login = reverse("admin:login") if name == "admin:index" else reverse("login")
            assert response["Location"].startswith(login), name
        elif name.startswith("admin:"):
            # The admin site sends anyone without staff access to its own login page, not a 403.
            assert response.status_code == 302, (role, name)
            assert response["Location"].startswith(reverse("admin:login")), (role, name)
        else:
            assert response.status_code == 403, (role, name)


def test_a_user_without_a_role_is_told_so_and_whom_to_ask(db, make_lead):
    member("ada", "Admin", first_name="Ada", last_name="Lovelace")
    client = client_for("no role")
    for url in (reverse("leads:search"), make_lead().get_absolute_url(), reverse("feedback:for_event")):
        response = client.get(url)
        assert response.status_code == 403, url
        page = BeautifulSoup(response.content, "html.parser")
        text = " ".join(page.select_one("main").get_text(" ").split())
        assert "no role yet" in text, url
        assert "Ada Lovelace" in text, url
        # The way out: the page still has the portal's layout and its log-out form.
        assert page.select_one(f"form[action='{reverse('logout')}']") is not None, url
        # ... and no menu into pages that would refuse them.
        assert page.select("nav[aria-label=Main] a") == [], url


def test_an_htmx_request_from_a_user_whose_role_was_taken_reloads_the_page_to_say_why(db, add_feedback):
    feedback = add_feedback(status=Status.QUEUED)
    page = feedback.lead.get_absolute_url()
    client = client_for("no role")
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{page}"}

    poll = client.get(reverse("feedback:status", kwargs={"pk": feedback.pk}), **headers)
    undo = client.post(reverse("feedback:undo", kwargs={"pk": feedback.pk}), **headers)

    # htmx swaps no 4xx: without this the poll would stop and Undo do nothing, unexplained.
    assert poll["HX-Redirect"] == page
    assert undo["HX-Redirect"] == page
    assert client.get(page).status_code == 403


def brand_new_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("lead data")


urlpatterns = [path("brand-new/", brand_new_view), *portal_urlpatterns]


@pytest.mark.urls(__name__)
def test_a_new_view_needs_a_role_without_any_decorator(db):
    assert client_for("no role").get("/brand-new/").status_code == 403
    assert client_for("Agent").get("/brand-new/").status_code == 200


def test_existing_role_groups_get_the_desk_permission_at_the_next_migrate(db):
    agents = Group.objects.get(name="Agent")
    agents.permissions.clear()
    call_command("migrate", verbosity=0)
    assert agents.permissions.filter(codename="use_desk", content_type__app_label="feedback").exists()


def test_a_user_without_a_role_cannot_record_feedback(db, make_lead, return_reason):
    lead = make_lead()
    client = client_for("no role")
    data = {"feedback_type": "return", "reason": return_reason.pk, "idempotency_key": str(uuid.uuid4())}
    response = client.post(reverse("feedback:create", kwargs={"lead_pk": lead.pk}), data)
    assert response.status_code == 403
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("name", ["reports:history", "reports:rates"])
def test_an_htmx_request_without_a_session_sends_the_whole_page_to_log_in(db, name):
    response = Client().get(reverse(name), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_joining_the_admin_group_opens_the_admin_and_leaving_closes_it(db):
    user = member("newbie", "Agent")
    admins = Group.objects.get(name="Admin")
    assert not user.is_staff

    user.groups.add(admins)
    user.refresh_from_db()
    assert user.is_staff

    user.groups.remove(admins)
    user.refresh_from_db()
    assert not user.is_staff

    admins.user_set.add(user)
    user.refresh_from_db()
    assert user.is_staff

    admins.user_set.clear()
    user.refresh_from_db()
    assert not user.is_staff

    user.groups.set([admins])
    user.refresh_from_db()
    assert user.is_staff


def test_staff_cannot_be_switched_off_for_an_admin_nor_on_for_anyone_else(db):
    admin = member("boss", "Admin")
    agent = member("worker", "Agent")

    User.objects.filter(pk=admin.pk).update(is_staff=False)
    admin.refresh_from_db()
    admin.save()
    agent.is_staff = True
    agent.save()

    admin.refresh_from_db()
    agent.refresh_from_db()
    assert admin.is_staff
    assert not agent.is_staff


def test_superusers_keep_staff_without_the_group(db, admin_user):
    admin_user.groups.set([])
    admin_user.save()
    admin_user.refresh_from_db()
    assert admin_user.is_staff


def test_the_admin_site_gives_admins_the_reason_catalog_and_read_only_history(admin_member_client, add_feedback):
    feedback = add_feedback()
    index = admin_member_client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert admin_member_client.get(reverse("admin:feedback_reason_add")).status_code == 200
    assert admin_member_client.get(reverse("admin:feedback_feedback_change", args=[feedback.pk])).status_code == 200
    assert admin_member_client.get(reverse("admin:leads_lead_changelist")).status_code == 200
    assert admin_member_client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_roles_carry_the_permissions_of_their_lane(db):
    def codes(role: str) -> set[str]:
        perms = Permission.objects.filter(group__name=role).select_related("content_type")
        return {f"{perm.content_type.app_label}.{perm.codename}" for perm in perms}

    agent_perms = {"feedback.use_desk"}
    manager_perms = {*agent_perms, "feedback.resolve_feedback", "feedback.view_reports", "imports.import_data"}
    assert codes("Agent") == agent_perms
    assert codes("Manager") == manager_perms
    admin_extras = {"feedback.change_reason", "feedback.view_reasonchange", "auth.change_user"}
    assert manager_perms | admin_extras <= codes("Admin")
    assert "feedback.change_reasonchange" not in codes("Admin")
