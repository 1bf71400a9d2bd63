from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from feedbackportal.feedback.models import Status
from feedbackportal.leads.models import Lead, phone_digits
from tests.helpers import PERMISSION_QUERIES, SEARCH_QUERIES, make_feedback

SEARCH_URL = reverse("leads:search")
HTMX = {"HTTP_HX_REQUEST": "true"}


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def result_names(response) -> list[str]:
    return [span.get_text(strip=True) for span in html(response).select("#results .result-name")]


# ---- phone_digits


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("(512) 555-1212", "5125551212"),
        ("+1 512 555 1212", "5125551212"),
        ("1-512-555-1212", "5125551212"),
        ("555-1212", "5551212"),
        ("", ""),
    ],
)
def test_phone_digits_keeps_digits_and_drops_the_country_code(value, digits):
    assert phone_digits(value) == digits


# ---- LeadQuerySet.search


@pytest.mark.parametrize(
    "query",
    [
        "(512) 555-1212",
        "512.555.1212",
        "512-555-1212",
        "+1 512 555 1212",
        "1 (512) 555-1212",
        "5125551212",
        "5551212",
        "555-12",
        "1212",
        "+1 512 555",
    ],
)
def test_it_finds_a_lead_by_phone_in_any_format(make_lead, query):
    lead = make_lead(phone="512-555-1212")
    make_lead(phone="(737) 444-9999")
    assert list(Lead.objects.search(query)) == [lead]


def test_it_does_not_match_on_one_or_two_digits(make_lead):
    make_lead(phone="512-555-1212")
    assert list(Lead.objects.search("12")) == []


@pytest.mark.parametrize("query", ["marisol.q@example.com", "MARISOL.Q@EXAMPLE.COM", "Marisol.Q@", "marisol.q"])
def test_it_finds_a_lead_by_email_in_any_case(make_lead, query):
    lead = make_lead(email="Marisol.Q@Example.com")
    make_lead(email="someone.else@example.com")
    assert list(Lead.objects.search(query)) == [lead]


@pytest.mark.parametrize(
    "query",
    [
        "Marisol",
        "marisol",
        "Quintero",
        "quin",
        "Quintero, Marisol",
        "quintero,marisol",
        "Quintero, Mar",
        "Quintero,",
        "Marisol Quintero",
        "mar quin",
        "  Marisol   Quintero  ",
    ],
)
def test_it_finds_a_lead_by_name(make_lead, query):
    lead = make_lead(first_name="Marisol", last_name="Quintero")
    make_lead(first_name="Joe", last_name="Blow")
    assert list(Lead.objects.search(query)) == [lead]


def test_it_finds_a_name_of_several_words(make_lead):
    lead = make_lead(first_name="Mary Ann", last_name="Van der Berg")
    make_lead(first_name="Mary", last_name="Smith")
    assert list(Lead.objects.search("Mary Ann Van der Berg")) == [lead]
    assert list(Lead.objects.search("Van der Berg, Mary Ann")) == [lead]


def test_last_comma_first_does_not_match_first_name_in_the_last_name_slot(make_lead):
    make_lead(first_name="Quintero", last_name="Marisol")
    assert list(Lead.objects.search("Quintero, Marisol")) == []


@pytest.mark.parametrize(
    "query", ["5af4b98a0c1d2e3f40516273", "5AF4B98A0C1D2E3F40516273", "5af4b98a", "5af4b9", " 5af4b98a0c1d "]
)
def test_it_finds_a_lead_by_event_id_or_its_prefix(make_lead, query):
    lead = make_lead(event_id="5af4b98a0c1d2e3f40516273")
    make_lead(event_id="6bf4b98a0c1d2e3f40516273")
    assert list(Lead.objects.search(query)) == [lead]


def test_it_finds_a_lead_whose_event_id_is_all_digits(make_lead):
    lead = make_lead(event_id="123456789012345678901234")
    assert list(Lead.objects.search("123456789012345678901234")) == [lead]


def test_a_hex_looking_word_still_matches_a_name(make_lead):
    lead = make_lead(first_name="Deface", last_name="Smith")
    assert list(Lead.objects.search("deface")) == [lead]


@pytest.mark.parametrize("query", ["", "   ", ",", " , ", "-", "()", "@"])
def test_an_empty_or_meaningless_query_matches_nothing(make_lead, query):
    make_lead()
    assert list(Lead.objects.search(query)) == []


def test_an_unknown_query_matches_nothing(make_lead):
    make_lead()
    assert list(Lead.objects.search("Zzyzx")) == []


# ---- The search page


def test_the_search_page_shows_the_form_and_no_results_without_a_query(agent_client):
    response = agent_client.get(SEARCH_URL)
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("form[role=search] input[name=q]") is not None
    results = page.select_one("#results")
    assert results is not None
    assert results.get_text(strip=True) == ""


def test_the_search_page_lists_the_matches(agent_client, make_lead):
    first = make_lead(first_name="Marisol", last_name="Quintero")
    second = make_lead(first_name="Marisol", last_name="Abbott")
    response = agent_client.get(SEARCH_URL, {"q": "marisol"})
    assert response.status_code == 200
    links = [a["href"] for a in html(response).select("#results a.result")]
    assert sorted(links) == sorted([first.get_absolute_url(), second.get_absolute_url()])
    assert html(response).select_one("input[name=q]")["value"] == "marisol"


def test_the_search_page_says_when_nothing_matches(agent_client, make_lead):
    make_lead()
    response = agent_client.get(SEARCH_URL, {"q": "Zzyzx"}, **HTMX)
    empty = html(response).select_one("#results .empty")
    assert empty is not None
    assert "No lead matches “Zzyzx”" in empty.get_text()
    assert html(response).select("#results a") == []


@pytest.mark.parametrize("typed", ["abcdef0123456789abcdef01", "ABCDEF0123456789ABCDEF01"])
def test_an_unknown_event_id_offers_feedback_on_it(agent_client, make_lead, typed):
    make_lead()
    response = agent_client.get(SEARCH_URL, {"q": typed}, **HTMX)
    link = html(response).select_one("#results a.button")
    assert link is not None
    assert link["href"] == f"{reverse('feedback:for_event')}?event_id=abcdef0123456789abcdef01"
    assert link.get_text(strip=True) == "Give feedback on event abcdef0123456789abcdef01"


def test_a_short_unknown_hex_query_does_not_offer_feedback_by_event(agent_client):
    response = agent_client.get(SEARCH_URL, {"q": "abcdef0123"}, **HTMX)
    assert html(response).select("#results a") == []


def test_an_htmx_search_returns_only_the_results(agent_client, make_lead):
    make_lead(first_name="Marisol", last_name="Quintero")
    make_lead(first_name="Marisol", last_name="Abbott")
    response = agent_client.get(SEARCH_URL, {"q": "marisol"}, **HTMX)
    assert response.status_code == 200
    page = html(response)
    assert page.find("html") is None
    assert page.find("form") is None
    top = [tag for tag in page.contents if getattr(tag, "name", None)]
    assert [(tag.name, tag.get("id")) for tag in top] == [("div", "results")]
    assert len(page.select("#results [role=option]")) == 2


def test_a_full_search_returns_the_whole_page(agent_client, make_lead):
    make_lead(first_name="Marisol", last_name="Quintero")
    make_lead(first_name="Marisol", last_name="Abbott")
    response = agent_client.get(SEARCH_URL, {"q": "marisol"})
    page = html(response)
    assert page.find("html") is not None
    assert page.select_one("main #results") is not None
    assert len(page.select("#results [role=option]")) == 2


def test_search_responses_vary_on_hx_request(agent_client, make_lead):
    for extra in ({}, HTMX):
        response = agent_client.get(SEARCH_URL, {"q": "nobody"}, **extra)
        vary = [part.strip().lower() for part in response["Vary"].split(",")]
        assert "hx-request" in vary


def submitted_search(client, query: str) -> dict[str, str]:
    """What the search form sends when the agent presses Enter in it without JavaScript (its button included)."""
    form = html(client.get(SEARCH_URL)).select_one("form[role=search]")
    assert form is not None
    assert form["method"] == "get"
    button = form.select_one("button[type=submit]")
    assert button is not None
    return {"q": query, str(button["name"]): str(button["value"])}


def test_one_match_on_a_submitted_search_opens_the_lead(agent_client, make_lead):
    lead = make_lead(first_name="Marisol", last_name="Quintero")
    response = agent_client.get(SEARCH_URL, submitted_search(agent_client, "Quintero, Marisol"))
    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()


def test_a_search_address_opened_again_lists_its_one_match_instead_of_opening_it(agent_client, make_lead):
    # Back from the lead page loads /?q=… again: jumping to the lead would trap the agent there.
    lead = make_lead(first_name="Marisol", last_name="Quintero")
    response = agent_client.get(SEARCH_URL, {"q": "Quintero, Marisol"})
    assert response.status_code == 200
    page = html(response)
    assert [a["href"] for a in page.select("main #results a.result")] == [lead.get_absolute_url()]
    assert page.select_one("input[name=q]")["value"] == "Quintero, Marisol"


@pytest.mark.parametrize(
    ("query", "address"),
    [("marisol", "/?q=marisol"), ("Quintero, Marisol", "/?q=Quintero%2C+Marisol"), ("  ", "/"), ("", "/")],
)
def test_an_htmx_search_puts_its_query_in_the_address_bar(agent_client, make_lead, query, address):
    # Replaced, not pushed: typing is one history entry, and Back from a lead comes back to it.
    make_lead(first_name="Marisol", last_name="Quintero")
    response = agent_client.get(SEARCH_URL, {"q": query}, **HTMX)
    assert response["HX-Replace-Url"] == address
    assert "HX-Push-Url" not in response


def test_one_match_on_an_htmx_search_is_listed_not_opened(agent_client, make_lead):
    lead = make_lead(first_name="Marisol", last_name="Quintero")
    response = agent_client.get(SEARCH_URL, {"q": "Quintero, Marisol"}, **HTMX)
    assert response.status_code == 200
    assert [a["href"] for a in html(response).select("#results a.result")] == [lead.get_absolute_url()]


def test_results_are_capped_with_a_hint_to_type_more(agent_client, make_lead):
    for _ in range(27):
        make_lead(last_name="Capper")
    response = agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX)
    page = html(response)
    assert len(page.select("#results [role=option]")) == 25
    hint = page.select_one("#results p.hint")
    assert hint is not None
    assert "type more" in hint.get_text()


def test_exactly_the_cap_shows_no_hint(agent_client, make_lead):
    for _ in range(25):
        make_lead(last_name="Capper")
    page = html(agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX))
    assert len(page.select("#results [role=option]")) == 25
    assert page.select("#results p.hint") == []


def test_lead_data_in_results_is_escaped(agent_client, make_lead):
    make_lead(
        first_name="<script>alert(1)</script>", last_name="Evil", email="<b>x</b>@example.com", source_name="<b>y</b>"
    )
    make_lead(first_name="<script>alert(2)</script>", last_name="Evil")
    response = agent_client.get(SEARCH_URL, {"q": "<script>"})
    page = html(response)
    results = page.select_one("#results")
    assert results.find("script") is None
    assert results.find("b") is None
    assert sorted(result_names(response)) == ["<script>alert(1)</script> Evil", "<script>alert(2)</script> Evil"]


def test_the_query_is_escaped_when_nothing_matches(agent_client):
    response = agent_client.get(SEARCH_URL, {"q": "<img src=x onerror=alert(1)>"}, **HTMX)
    page = html(response)
    assert page.find("img") is None
    assert "<img src=x onerror=alert(1)>" in page.select_one("#results .empty").get_text()


# ---- Query counts: session + user + permissions + the search's queries, however many rows


def test_an_htmx_search_makes_a_fixed_number_of_queries(agent_client, make_lead, django_assert_num_queries):
    for _ in range(10):
        make_lead(last_name="Capper")
    # session, user, permissions (the role check), the search; htmx partials skip the managers' banner check
    with django_assert_num_queries(2 + PERMISSION_QUERIES + SEARCH_QUERIES):
        response = agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX)
    assert len(html(response).select("#results li")) == 10


def test_a_full_search_makes_a_fixed_number_of_queries(agent_client, make_lead, django_assert_num_queries):
    for _ in range(10):
        make_lead(last_name="Capper")
    # session, user, permissions, the managers' banner check, the search, the agent's recent work
    with django_assert_num_queries(3 + PERMISSION_QUERIES + SEARCH_QUERIES):
        response = agent_client.get(SEARCH_URL, {"q": "capper"})
    assert len(html(response).select("#results li")) == 10


def test_exact_matches_that_fill_the_page_leave_newer_partial_ones_off_it(agent_client, make_lead):
    now = timezone.now()
    exact = [make_lead(last_name="Capper", received_at=now - timedelta(days=1, minutes=n)) for n in range(30)]
    make_lead(last_name="Cappers", received_at=now)  # newer, but partial: not on the page
    response = agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX)
    shown = [int(link["href"].split("/")[-2]) for link in html(response).select("#results a.result")]
    assert shown == [lead.pk for lead in exact[:25]]
    assert "type more to narrow" in html(response).select_one("#results .hint").get_text()


def test_an_htmx_history_restore_gets_the_whole_page(agent_client, make_lead):
    make_lead(first_name="Marisol", last_name="Quintero")
    make_lead(first_name="Marisol", last_name="Abbott")
    response = agent_client.get(SEARCH_URL, {"q": "marisol"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    page = html(response)
    assert page.find("html") is not None
    assert len(page.select("main #results [role=option]")) == 2


# ---- What the results show: what happened to each lead, its source, and the part that matched


def result_for(page: BeautifulSoup, lead: Lead):
    link = page.select_one(f"#results a.result[href='{lead.get_absolute_url()}']")
    assert link is not None
    return link


def badges(link) -> list[tuple[str, str]]:
    """(text, status class) of each feedback badge on one result."""
    found = []
    for badge in link.select(".result-feedback .badge"):
        status = [name.removeprefix("badge-") for name in badge["class"] if name.startswith("badge-")]
        found.append((badge.get_text(" ", strip=True), status[0]))
    return found


def test_results_show_what_happened_to_each_lead(agent_client, make_lead, return_reason, conversion_reason):
    returned = make_lead(last_name="Capper")
    make_feedback(returned, return_reason, status=Status.REJECTED)
    make_feedback(returned, return_reason, status=Status.ACCEPTED)
    converting = make_lead(last_name="Capper")
    make_feedback(converting, conversion_reason, status=Status.QUEUED)
    refused = make_lead(last_name="Capper")
    make_feedback(refused, return_reason, status=Status.REJECTED)
    untouched = make_lead(last_name="Capper")

    page = html(agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX))

    assert badges(result_for(page, returned)) == [("Returned · Accepted", "accepted")]
    assert badges(result_for(page, converting)) == [("Converted · Queued", "queued")]
    assert badges(result_for(page, refused)) == [("Return · Rejected", "rejected")]
    assert badges(result_for(page, untouched)) == []


def test_a_live_feedback_outranks_a_newer_finished_one_of_its_type(agent_client, make_lead, return_reason):
    # A manager resent an old unconfirmed return after a newer one was rejected: the live one is the state.
    lead = make_lead(last_name="Capper")
    make_feedback(lead, return_reason, status=Status.UNCONFIRMED, created_at=timezone.now() - timedelta(days=2))
    make_feedback(lead, return_reason, status=Status.REJECTED)
    page = html(agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX))
    assert badges(result_for(page, lead)) == [("Returned · Unconfirmed", "unconfirmed")]


def test_results_show_the_source(agent_client, make_lead):
    lead = make_lead(last_name="Capper", source_name="SunPeak Solar")
    make_lead(last_name="Capper", source_name="")
    page = html(agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX))
    assert result_for(page, lead).select_one(".result-source").get_text(strip=True) == "SunPeak Solar"


def marked(link) -> list[str]:
    return [mark.get_text() for mark in link.select("mark")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("quin", ["Quin"]),
        ("Marisol Quintero", ["Marisol", "Quintero"]),
        ("Quintero, Mar", ["Mar", "Quintero"]),
        ("555-12", ["555-12"]),
        ("5125551212", ["(512) 555-1212"]),
        ("+1 512 555", ["(512) 555"]),
        ("marisol.q@", ["marisol.q@"]),
        ("5af4b98a", ["5af4b98a"]),
    ],
)
def test_the_part_that_matched_is_marked(agent_client, make_lead, query, expected):
    lead = make_lead(
        first_name="Marisol",
        last_name="Quintero",
        phone="512-555-1212",
        email="marisol.q@example.com",
        event_id="5af4b98a0c1d2e3f40516273",
    )
    page = html(agent_client.get(SEARCH_URL, {"q": query}, **HTMX))
    assert marked(result_for(page, lead)) == expected


def test_marking_escapes_the_lead_and_the_query(agent_client, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>", last_name="<b>Evil</b>")
    make_lead(first_name="<script>x", last_name="Other")
    response = agent_client.get(SEARCH_URL, {"q": "<scr"}, **HTMX)
    page = html(response)
    link = result_for(page, lead)
    assert page.find("script") is None
    assert page.find("b") is None
    assert marked(link) == ["<scr"]
    assert link.select_one(".result-name").get_text() == "<script>alert(1)</script> <b>Evil</b>"
    assert b"<mark>&lt;scr</mark>ipt&gt;" in response.content


def test_exact_names_rank_before_newer_partial_ones_on_a_common_name(agent_client, make_lead):
    now = timezone.now()
    exact = [make_lead(first_name="Joe", last_name="Smith", received_at=now - timedelta(days=60 + n)) for n in range(2)]
    for n in range(30):
        make_lead(first_name=f"Joey{n}", last_name="Smithers", received_at=now - timedelta(minutes=n))
        make_lead(first_name="Joe", last_name=f"Smithson{n}", received_at=now - timedelta(minutes=n))
    for query in ("Smith, Joe", "smith, joe", "Joe Smith", "Smith Joe", "  SMITH ,  JOE "):
        page = html(agent_client.get(SEARCH_URL, {"q": query}, **HTMX))
        links = [a["href"] for a in page.select("#results a.result")]
        assert links[:2] == [lead.get_absolute_url() for lead in exact], query


def test_an_htmx_search_with_feedback_on_every_lead_makes_a_fixed_number_of_queries(
    agent_client, make_lead, return_reason, conversion_reason, django_assert_num_queries
):
    for _ in range(10):
        lead = make_lead(last_name="Capper", source_name="SunPeak Solar")
        make_feedback(lead, return_reason, status=Status.ACCEPTED)
        make_feedback(lead, conversion_reason, status=Status.REJECTED)
    # session, user, its permissions (the role check), the search
    with django_assert_num_queries(2 + PERMISSION_QUERIES + SEARCH_QUERIES):
        response = agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX)
    assert len(html(response).select("#results .result-feedback .badge")) == 20


def test_each_result_option_is_its_link_with_nothing_interactive_inside(agent_client, make_lead):
    # An option holding a link is "nested interactive" (axe, serious): the link is the option.
    make_lead(last_name="Capper")
    make_lead(last_name="Capper")
    page = html(agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX))
    options = page.select("#results [role=option]")
    assert len(options) == 2
    assert all(option.name == "a" and option.has_attr("href") for option in options)
    assert [option["aria-selected"] for option in options] == ["true", "false"]
    assert all(option.select("a, button, input") == [] for option in options)
    assert [item["role"] for item in page.select("#results ol[role=listbox] > li")] == ["none", "none"]


def test_the_search_page_has_a_main_heading(agent_client):
    assert html(agent_client.get(SEARCH_URL)).select_one("main h1") is not None


def test_results_leave_the_raw_payload_in_the_database(agent_client, make_lead):
    make_lead(last_name="Capper", raw_payload={"note": "x" * 5000})
    response = agent_client.get(SEARCH_URL, {"q": "capper"}, **HTMX)
    (lead,) = response.context["leads"]
    assert "raw_payload" in lead.get_deferred_fields()


def test_a_nul_in_the_query_is_dropped_not_sent_to_the_database(agent_client, make_lead):
    # PostgreSQL's text cannot hold a NUL: searching with one was a server error.
    make_lead(first_name="Marisol", last_name="Quintero")
    response = agent_client.get(SEARCH_URL, {"q": "Quin\x00tero"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    (name,) = result_names(response)
    assert "Quintero" in name


def test_numbers_ending_with_the_digits_typed_rank_before_newer_ones_holding_them_elsewhere(agent_client, make_lead):
    # "The last four of your number?": the caller's lead comes before newer numbers that hold the
    # four digits in the middle.
    now = timezone.now()
    make_lead(first_name="Old", last_name="Ending", phone="512-555-0147", received_at=now - timedelta(days=30))
    make_lead(first_name="New", last_name="Middle", phone="512-014-7999", received_at=now)
    make_lead(first_name="Exact", last_name="Number", phone="0147", received_at=now - timedelta(days=60))
    response = agent_client.get(SEARCH_URL, {"q": "0147"}, headers={"HX-Request": "true"})
    names = result_names(response)
    assert [name[:3] for name in names] == ["Exa", "Old", "New"]


def test_a_number_typed_after_plus_one_is_its_start_so_no_end_ranks_first(agent_client, make_lead):
    # "+1 512" is the start of a number (area code 512): numbers that end with 512 are not ranked
    # before the newer ones that start with it (found in review).
    now = timezone.now()
    for n in range(2):
        make_lead(first_name=f"Ends{n}", last_name="Old", phone=f"408-555-0{n}512", received_at=now - timedelta(days=9))
        make_lead(
            first_name=f"Starts{n}", last_name="New", phone=f"512-555-010{n}", received_at=now - timedelta(days=n)
        )
    response = agent_client.get(SEARCH_URL, {"q": "+1 512"}, headers={"HX-Request": "true"})
    assert [name[:4] for name in result_names(response)] == ["Star", "Star", "Ends", "Ends"]


def test_a_whole_last_name_typed_ranks_before_newer_ones_it_only_starts(agent_client, make_lead):
    # "Smith, Jo": the Smiths named Jo… before newer Smithers named Jo….
    now = timezone.now()
    make_lead(first_name="Joan", last_name="Smithers", received_at=now)
    make_lead(first_name="John", last_name="Smith", received_at=now - timedelta(days=30))
    make_lead(first_name="Jo", last_name="Smith", received_at=now - timedelta(days=60))
    for query in ["Smith, Jo", "Jo Smith"]:
        response = agent_client.get(SEARCH_URL, {"q": query}, headers={"HX-Request": "true"})
        names = [" ".join(name.split()) for name in result_names(response)]
        assert [name.replace(" ", "")[:8] for name in names] == ["JoSmith", "JohnSmit", "JoanSmit"], query
