"""The agents' search at scale: exact matches first, and on PostgreSQL the plans a million leads need.

The plan tests load 30,000 leads with generate_series and ANALYZE them, and price sequential scans
out: exact matches are read newest first from their (value, received_at, id) index, fragment
searches go through the trigram index, and no search walks the received_at index backwards looking
for matches (seconds at a million leads). `make bench-scale` times them at 1M.
"""

import importlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feedbackportal.feedback.models import Feedback
from feedbackportal.leads import models as lead_models
from feedbackportal.leads.models import Lead, search_terms
from feedbackportal.leads.selectors import recent_work, search_page, with_feedback_states
from feedbackportal.leads.services import lead_view_record

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")


def test_last_comma_first_puts_the_exact_name_first_even_when_older(make_lead):
    now = timezone.now()
    exact = make_lead(first_name="Mary", last_name="Smith", received_at=now - timedelta(days=30))
    for n in range(30):
        make_lead(first_name=f"Maryanne{n}", last_name=f"Smithson{n}", received_at=now - timedelta(minutes=n))

    found = list(Lead.objects.ranked_search("Smith, Mary", 25))

    assert found[0] == exact
    assert found[0].exact_match is True
    assert not any(lead.exact_match for lead in found[1:])


@pytest.mark.parametrize(
    ("query", "exact_fields"),
    [
        ("smith", {"last_name": "Smith"}),
        ("Mary Smith", {"first_name": "Mary", "last_name": "Smith"}),
        ("mary@example.com", {"email": "mary@example.com"}),
        ("555-0101", {"phone": "555-0101"}),
    ],
)
def test_every_kind_of_query_ranks_its_exact_match_first(make_lead, query, exact_fields):
    now = timezone.now()
    exact = make_lead(
        **({"first_name": "Mary", "last_name": "Smith"} | exact_fields), received_at=now - timedelta(days=9)
    )
    newer = make_lead(
        first_name="Maryanne",
        last_name="Smithers",
        email="mary@example.com.au",
        phone="1-512-555-0101",
        received_at=now,
    )

    found = list(Lead.objects.ranked_search(query, 25))

    assert found[0] == exact
    if newer in found:
        assert found.index(newer) > 0


def test_ranked_search_finds_what_search_finds(make_lead):
    for n in range(5):
        make_lead(first_name="Joe", last_name=f"Blow{n}")
    assert set(Lead.objects.ranked_search("Blow", 25)) == set(Lead.objects.search("Blow"))
    assert list(Lead.objects.ranked_search("  ", 25)) == []


def exact_first(query: str) -> list[Lead]:
    """Every lead search() finds, sorted as the agents see them, by reading them all: exact matches,
    then near ones (a number ending with the digits typed, a whole last name with a first name's
    start), then the rest, each newest first."""
    exact, near = set(exact_ones(query)), set(near_ones(query))
    found = list(Lead.objects.search(query))
    return sorted(found, key=lambda lead: (lead.pk in exact, lead.pk in near, lead.received_at, lead.pk), reverse=True)


def exact_ones(query: str) -> list[int]:
    terms = search_terms(query)
    assert terms is not None
    return list(Lead.objects.filter(terms.exact_match).values_list("pk", flat=True))


def near_ones(query: str) -> list[int]:
    """Leads whose number ends with the digits typed, or whose last name is a whole name typed and
    first name starts with the other part, tested in Python."""
    terms = search_terms(query)
    assert terms is not None
    if not terms.near:
        return []
    if any(character.isdigit() for character in query):
        digits = "".join(filter(str.isdigit, query))
        digits = digits[1:] if query.startswith("+1") else digits
        return [lead.pk for lead in Lead.objects.all() if digits and lead.phone_digits.endswith(digits)]
    if "," in query:
        last, _, first = (part.strip() for part in query.partition(","))
        pairs = [(last, first)]
    else:
        words = query.split()
        pairs = []
        for split in range(1, len(words)):
            before, after = " ".join(words[:split]), " ".join(words[split:])
            pairs += [(after, before), (before, after)]
    return [
        lead.pk
        for lead in Lead.objects.all()
        if any(
            lead.last_name.upper() == last.upper() and lead.first_name.upper().startswith(first.upper())
            for last, first in pairs
        )
    ]


SHORT_STARTS = ["smi", "Ma", "m", "Sm, M"]  # the newest leads are looked at first (RECENT_WINDOW)


@pytest.mark.parametrize(
    "query",
    [
        "smith",
        "Smith, Mary",
        "Mary Smith",
        "mary@example.com",
        "555-0101",
        "5120",
        "5125550101",
        "512555",
        "0101",
        "101",
        "0003",
        "+1 512 555",
        "Smith, M",
        "Mary Smi",
        "M Smith",
        *SHORT_STARTS,
    ],
)
@pytest.mark.parametrize("limit", [1, 3, 7, 40])
@pytest.mark.parametrize("window", [None, 3, 20])  # the newest leads looked at first (RECENT_WINDOW)
def test_the_first_leads_are_those_of_sorting_every_match(make_lead, monkeypatch, query, limit, window):
    if window:
        monkeypatch.setattr(lead_models, "RECENT_WINDOW", window)
    now = timezone.now()
    for n in range(4):  # the newest leads of all match nothing
        make_lead(first_name="Zed", last_name="Quux", email=f"zed{n}@example.org", received_at=now + timedelta(hours=n))
    for n in range(12):
        # Exact and partial matches of each kind, old and new, with ties on received_at.
        make_lead(
            first_name="Mary",
            last_name="Smith",
            email="mary@example.com",
            phone="512-555-0101",
            received_at=now - timedelta(hours=n * 7 % 5),
        )
        make_lead(
            first_name="Maryanne",
            last_name="Smithers",
            email=f"mary@example.com{n}",
            phone=f"512555{n:04d}",
            received_at=now - timedelta(hours=n * 3 % 4),
        )
        make_lead(
            first_name="Smith",
            last_name=f"Mary{n}",
            email=f"smith{n}@example.com",
            phone=f"5120{n:06d}",
            received_at=now - timedelta(hours=n),
        )
    expected = exact_first(query)[:limit]
    found = list(Lead.objects.ranked_search(query, limit))
    assert found == expected
    assert [lead.pk for lead in search_page(query, limit)] == [lead.pk for lead in expected]  # the page's SQL
    assert [lead.exact_match for lead in found] == [lead.pk in exact_ones(query) for lead in expected]
    assert [lead.near_match for lead in found] == [lead.pk in near_ones(query) for lead in expected]


@pytest.fixture
def many_leads(db):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_lead (event_id, leadconduit_id, first_name, last_name, email, phone, phone_digits,
                                    address, city, state, postal_code, source_name, received_at, created_at, updated_at)
            SELECT lpad(to_hex(n), 24, '0'), '', 'First' || (n % 500), 'Last' || (n % 3000),
                   'person' || n || '@example.com', '', lpad(((n * 7919) % 10000000000)::text, 10, '5'),
                   '', '', '', '', 'Source ' || (n % 20), now() - n * interval '1 minute', now(), now()
            FROM generate_series(1, 30000) AS n
            """
        )
        cursor.execute("ANALYZE leads_lead")


def plan(queryset) -> str:
    # At 30,000 rows a sequential scan is often cheapest; at a million it is not. With it priced out,
    # the plan shows what PostgreSQL can do instead: an index that finds the matches, or a walk of
    # received_at newest first (what the bench measured at seconds per search before the fix).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


def search_plans(query: str) -> str:
    """The plans of every query an agent's search makes."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    with CaptureQueriesContext(connection) as queries:
        search_page(query, 26)
    plans = []
    with connection.cursor() as cursor:
        for captured in queries.captured_queries:
            cursor.execute(f"EXPLAIN {captured['sql']}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


WALK = "Backward using leads_lead_received_at"


def walks(text: str) -> bool:
    """Whether a plan walks received_at newest first testing each lead as it goes (a Filter on the
    walk), which reads the whole table when few match. Reading the newest RECENT_WINDOW leads walks
    it too, untested: the Limit above it stops it there."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if WALK in line:
            depth = len(line) - len(line.lstrip())
            for below in lines[n + 1 :]:
                if "->" in below or len(below) - len(below.lstrip()) <= depth:
                    break
                if "Filter:" in below:
                    return True
    return False


@postgres_only
@pytest.mark.parametrize("query", ["5551234", "1234", "555", "512555", "+1 512 555"])
def test_phone_fragments_use_the_trigram_index(many_leads, query):
    text = search_plans(query)
    assert "leads_lead_phone_digits_trgm" in text
    assert not walks(text)


@postgres_only
@pytest.mark.parametrize("query", ["123", "5123", "0007"])
def test_a_numbers_last_digits_are_read_from_the_reversed_number_index_alone(many_leads, query):
    # The last 4 digits match about 700 leads at a million, which the trigram index found and each
    # was read from the table to test and sort (1,000 pages, 15-28 ms uncached). The numbers that
    # end with them rank first, and are sorted from an index of reversed numbers alone.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET phone_digits = '55512' || lpad((id % 10000)::text, 4, '0')")
        cursor.execute("ANALYZE leads_lead")
    text = search_plans(query)
    assert "Index Only Scan using leads_lead_phone_ends_newest" in text
    assert "Index Cond: (((reverse((phone_digits)::text)) ~>=~" in text
    assert not walks(text)
    # 30,000 leads: three of every 4-digit end, 30 of every 3-digit end; the page of a 3-digit end
    # is full without the trigram index.
    lines = Lead.objects.ranked_search(query, 26).explain(analyze=True).splitlines()
    trigram = [line for line in lines if "leads_lead_phone_digits_trgm" in line]
    assert trigram
    assert all("never executed" in line for line in trigram) == (len(query) == 3)


@postgres_only
@pytest.mark.parametrize("query", ["Smith, First1", "First1 Smith"])
def test_a_whole_last_name_with_a_first_names_start_is_read_from_one_range_of_the_names_index(many_leads, query):
    # "Last15, First2" starts 55,000 last names at a million leads, whose first names were tested
    # and 15,000 matches sorted (20-70 ms uncached). The Smiths named First1… come first, read from
    # one range of the index of both names, and fill the page without that.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET last_name = 'Smith' WHERE id % 10 = 0")
        cursor.execute("ANALYZE leads_lead")
    text = search_plans(query)
    near = "(upper((last_name)::text) = 'SMITH'::text) AND (upper((first_name)::text) ~>=~ 'FIRST1'::text)"
    assert near in text
    assert "leads_lead_last_first_newest" in text
    lines = Lead.objects.ranked_search(query, 26).explain(analyze=True).splitlines()
    last_starts_smith = re.compile(r"last_name\)::text\)+ ~>=~ 'SMITH'")  # both starts: a range of last names
    both_starts = [lines[n - 1] for n, line in enumerate(lines) if last_starts_smith.search(line)]  # their scans
    assert both_starts
    assert all("never executed" in line for line in both_starts)


@postgres_only
@pytest.mark.parametrize(
    "query", ["5551234", "1234", "Last17, First3", "Last17", "person99@example.com", "First3 Last17", "000000a1"]
)
def test_no_search_walks_received_at_backwards(many_leads, query):
    text = search_plans(query)
    assert not walks(text)
    assert "Seq Scan" not in text


@postgres_only
@pytest.mark.parametrize(
    ("query", "way", "index"),
    [
        ("Smith", 1, "leads_lead_last_name_newest"),  # ways: first name, last name, email
        ("first3", 0, "leads_lead_first_name_newest"),
        ("person99@example.com", 0, "leads_lead_email_newest"),
    ],
)
def test_exact_matches_are_read_newest_first_from_their_own_index(many_leads, query, way, index):
    with connection.cursor() as cursor:  # a common name: reading them all and sorting would cost
        cursor.execute("UPDATE leads_lead SET last_name = 'Smith' WHERE id % 10 = 0")
        cursor.execute("ANALYZE leads_lead")
    text = search_plans(query)
    assert f"Scan Backward using {index}" in text  # read in order, stopped at the limit
    assert not walks(text)


@postgres_only
@pytest.mark.parametrize("query", ["Last17, First3", "First3 Last17", "Last17 First3"])
def test_both_names_are_matched_in_one_index_not_on_each_leads_row(many_leads, query):
    # Both names' prefixes: at a million leads "LAST17%" alone is 55,000 leads, whose rows were read
    # (21,000 pages, 140 ms) to test the first name on the 15,000 that start "FIRST3" too. One index
    # of both names tests both; vacuumed (the bench), PostgreSQL reads only the index (no heap fetch).
    text = search_plans(query)
    in_one_index = [line for line in text.splitlines() if "~>=~ 'LAST17'" in line and "~>=~ 'FIRST3'" in line]
    assert in_one_index
    assert "leads_lead_last_first_newest" in text
    assert not walks(text)


@postgres_only
@pytest.mark.parametrize("query", ["F", "Las", "pers"])
def test_a_common_start_is_found_among_the_newest_leads_without_sorting_every_match(many_leads, query):
    # "F" starts every first name: at a million leads, sorting every match took 450 ms (what an agent
    # gets who pauses after one letter). The newest RECENT_WINDOW leads hold a page of them.
    lines = Lead.objects.ranked_search(query, 26).explain(analyze=True).splitlines()
    sorting_every_match = [lines[n - 1] for n, line in enumerate(lines) if "'00:00:00'::interval" in line]
    assert sorting_every_match
    assert all("Sort" in line and "never executed" in line for line in sorting_every_match)
    assert "newest_leads" in "\n".join(lines)


@postgres_only
def test_no_search_is_compiled_by_the_jit(many_leads):
    # The arms a search guards and never runs are still priced: at a million leads "F"'s estimate
    # passed jit_above_cost, and compiling the query took 40-55 ms of its 45-85. Here every query
    # is priced over it. The portal's connections turn the JIT off.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit_above_cost = 0")
    with CaptureQueriesContext(connection) as queries:
        search_page("F", 26)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE) {queries.captured_queries[0]['sql']}")
        text = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
    assert "JIT" not in text


@postgres_only
def test_partial_matches_are_not_looked_for_when_exact_ones_fill_the_page(many_leads):
    # "First3" is the whole first name of 60 leads: a page of them; "FIRST3%" finds 660 more.
    text = Lead.objects.ranked_search("First3", 26).explain(analyze=True)
    assert "leads_lead_first_name_newest" in text
    assert "never executed" in text
    text = Lead.objects.ranked_search("First3", 100).explain(analyze=True)  # not a page of exact ones
    assert "never executed" not in text
    assert "newest_leads" not in text  # a start of six letters is not looked for among the newest first


@postgres_only
def test_the_duplicated_and_unused_lead_indexes_are_gone(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'leads_lead'")
        indexes = dict(cursor.fetchall())
    on_event_id = [name for name, definition in indexes.items() if "(event_id varchar_pattern_ops)" in definition]
    assert len(on_event_id) == 1
    assert not [
        name
        for name in indexes
        if name.startswith(("leads_lead_first_name_", "leads_lead_last_name_")) and not name.endswith("_newest")
    ]
    assert [name for name in indexes if "email" in name] == ["leads_lead_email_newest"]
    assert "leads_lead_phone_digits_trgm" in indexes


@postgres_only
@pytest.mark.parametrize("by", ["phone", "email", "both"])
def test_duplicates_are_found_through_the_phone_and_email_indexes(many_leads, by):
    lead = Lead.objects.get(email="person12345@example.com")
    if by == "phone":
        lead.email = ""
    elif by == "email":
        lead.phone_digits = ""
    text = plan(Lead.objects.duplicates_of(lead)[:11])
    if by in ("phone", "both"):
        assert "leads_lead_phone_digits_eq" in text
    if by in ("email", "both"):
        assert "leads_lead_email_newest" in text
    assert not walks(text)
    assert "Seq Scan" not in text


@pytest.fixture
def many_feedbacks(many_leads):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO feedback_feedback (lead_id, feedback_type, reason_text, note, idempotency_key, status,
                                           status_message, outcome, outcome_reason, attempt_count,
                                           attempts_before_resend, task_id, created_at, updated_at)
            SELECT id, CASE WHEN id % 2 = 0 THEN 'return' ELSE 'conversion' END, '', '', gen_random_uuid(),
                   'accepted', '', 'success', '', 1, 0, '', now(), now()
            FROM leads_lead
            """
        )
        cursor.execute("ANALYZE feedback_feedback")


@postgres_only
def test_results_read_each_shown_leads_feedback_state_through_the_lead_index_after_the_limit(many_feedbacks):
    text = with_feedback_states(Lead.objects.ranked_search("Last17", 26)).explain(analyze=True)
    sub_plans = text[text.index("SubPlan") :]
    assert "feedback_feedback_lead_id" in sub_plans
    assert "feedback_type_newest" not in sub_plans
    # Evaluated for the 26 rows shown, not for the ~1,000 matches sorted before the limit.
    assert "loops=26" in sub_plans
    assert not walks(text)


@postgres_only
def test_the_history_finds_a_few_thousand_leads_feedback_through_them_not_by_walking_it(many_feedbacks):
    from django.http import QueryDict

    from feedbackportal.reports.filters import history_filter
    from feedbackportal.reports.selectors import feedback_history

    # "Last17" is the start of about 1,100 of the 30,000 leads' names: more than a literal list.
    rows = feedback_history(history_filter(QueryDict("q=Last17")).qs)
    text = plan(rows.values("pk")[:50])
    assert "feedback_feedback_lead_id" in text
    assert "Backward using feedback_feedback_created_at" not in text


@postgres_only
def test_recent_work_reads_only_the_agents_newest_views_and_feedback(many_feedbacks, agent):
    # Every feedback by this agent: the history that must not be read whole for ten rows.
    Feedback.objects.update(agent=agent)
    for lead in Lead.objects.order_by("pk")[:5]:
        lead_view_record(lead=lead, user=agent)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE feedback_feedback")
        cursor.execute("ANALYZE leads_leadview")
    with CaptureQueriesContext(connection) as queries:
        assert len(recent_work(agent)) == 10
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + query["sql"])
        text = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on leads_lead " not in text
    assert "Seq Scan on feedback_feedback" not in text
    assert "leads_lead_pkey" in text  # the candidates' leads, one by one
    assert "feedback_feedback_lead_id" in text  # the last feedback per lead, through the lead's own rows


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite plans")
def test_duplicates_are_found_through_the_phone_and_email_indexes_on_sqlite(make_lead):
    # Not by walking the 180 days of received_at around the lead (40 ms at 100,000 leads).
    lead = make_lead(phone="(512) 555-1212", email="marisol@example.com")
    text = Lead.objects.duplicates_of(lead)[:11].explain()
    assert "leads_lead_phone_digits_eq" in text
    assert "leads_lead_email_nocase" in text
    assert "received_at" not in text


@pytest.mark.parametrize("query", ["Smith", "Smith, Mary", "Mary Smith", "mary@example.com", "555-0101"])
def test_search_asks_for_no_exact_match_a_partial_one_finds_anyway(query):
    # "Smith" starts with "Smith": OR-ing the equality in too made PostgreSQL guess 25 times as many
    # matching leads, and walk every feedback newest first for the history filtered by lead (2.5 s).
    sql = str(Lead.objects.search(query).query)
    assert " = UPPER(" not in sql
    assert "= mary@example.com" not in sql
    assert '"phone_digits" = ' not in sql


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite plans")
@pytest.mark.parametrize("query", ["marisol@example.com", "marisol", "Quintero, Marisol", "Marisol Quintero"])
def test_no_search_reads_every_lead_on_sqlite(make_lead, query):
    make_lead(first_name="Marisol", last_name="Quintero", email="marisol@example.com")
    with CaptureQueriesContext(connection) as queries:
        list(Lead.objects.ranked_search(query, 26))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {queries.captured_queries[-1]['sql']}")
        rows = {row[0]: (row[1], str(row[-1])) for row in cursor.fetchall()}
    # SQLite's NOCASE indexes serve LIKE only: an exact email asked with = alone read every lead,
    # walking received_at newest first. The one walk allowed is of the newest RECENT_WINDOW leads.
    scans = [parent for parent, detail in rows.values() if detail.startswith("SCAN leads_lead")]
    assert all(rows.get(parent, (0, ""))[1].endswith(" newest_leads") for parent in scans)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_search_index_migration_builds_again_an_index_a_failed_build_left_invalid():
    migration = importlib.import_module("feedbackportal.leads.migrations.0010_search_newest_first")
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'leads_lead_email_newest'::regclass"
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'leads_lead_email_newest'::regclass")
        cursor.execute(valid)
        assert cursor.fetchone() == (False,)
    with connection.schema_editor(atomic=False) as editor:
        migration.forwards(None, editor)
    with connection.cursor() as cursor:
        cursor.execute(valid)
        assert cursor.fetchone() == (True,)
