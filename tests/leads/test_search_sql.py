"""The search page's SQL is built once per shape of query and kept (leads.selectors.search_page).

At a million leads building and compiling a search through the ORM took 4-8 ms, more than
PostgreSQL took to run it. Queries of one shape ("Smith", "Jones") now reuse one SQL text, with
the values typed put in its parameters as the ORM would have put them.
"""

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler

from feedbackportal.leads import models as lead_models
from feedbackportal.leads.models import Lead, search_terms, short_start
from feedbackportal.leads.selectors import RESULT_FIELDS, _search_sql, search_page, with_feedback_states
from tests.helpers import make_feedback

# Every kind of query, with the characters LIKE and SQL treat specially, several of each shape.
QUERIES = [
    "Smith",
    "Jones",
    "O'Brien",
    "50%",
    "a_b",
    "back\\slash",
    "F",
    "Sm",
    "%_",
    "Smith, Mary",
    "O'Brien, 50%_",
    "Smith,",
    ", Mary",
    "Mary Smith",
    "Mary Ann Smith",
    "Ann%Mary Van_Der Smith",
    "mary@example.com",
    "50%_@ex\\ample.com",
    "mary@",
    "555-0101",
    "5120",
    "(512) 555-0101",
    "+1 512 555",
    "512555",
    "123456",
    "5af4b9",
    "deface",
    "abcdef0123456789abcdef01",
    "ABCDEF0123456789ABCDEF01",
    "a b c d e f g h",
    "\ue000",
    "\ue0000%\ue001",  # a placeholder's own text, typed
    "Ann \ue0001\\%\ue001",
]


@pytest.fixture(autouse=True)
def no_kept_sql():
    _search_sql.cache_clear()
    yield
    _search_sql.cache_clear()


def orm_search(query: str, limit: int):
    return with_feedback_states(Lead.objects.only(*RESULT_FIELDS).ranked_search(query, limit))


@pytest.mark.django_db
def test_the_kept_sql_and_parameters_are_what_the_orm_makes_for_each_query():
    for query in QUERIES:
        terms = search_terms(query)
        assert terms is not None, query
        shape, values = terms.shape()
        kept = _search_sql(shape, short_start(query), 26, lead_models.RECENT_WINDOW)
        sql, params = orm_search(query, 26).query.sql_with_params()
        assert (kept.sql, kept.params(values, connection.ops)) == (sql, list(params)), query
    # Most of them reused the SQL of an earlier query of their shape.
    assert _search_sql.cache_info().hits >= 12


def test_queries_of_one_shape_have_equal_shapes_and_others_do_not():
    assert search_terms("Smith").shape()[0] == search_terms("O'Brien").shape()[0]
    assert search_terms("Smith, Mary").shape()[0] == search_terms("Jo, Ann").shape()[0]
    assert search_terms("Smith").shape()[0] != search_terms("Smith, Mary").shape()[0]
    assert search_terms("Mary Smith").shape()[0] != search_terms("Mary Ann Smith").shape()[0]
    assert search_terms("5120").shape()[0] != search_terms("5125550101").shape()[0]


@pytest.mark.django_db
def test_a_query_of_a_shape_searched_before_is_not_built_again(monkeypatch, make_lead):
    make_lead(first_name="Ann", last_name="Jones")
    search_page("Smith", 26)
    compiled = []
    as_sql = SQLCompiler.as_sql

    def counted(compiler, *args, **kwargs):
        compiled.append(compiler)
        return as_sql(compiler, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)

    assert [lead.last_name for lead in search_page("Jones", 26)] == ["Jones"]
    assert compiled == []


@pytest.mark.django_db
def test_the_page_holds_the_leads_and_feedback_states_the_orm_finds(make_lead, return_reason):
    for n in range(6):
        lead = make_lead(
            first_name="Mary", last_name=f"O'Brien{n}", email=f"mary{n}@example.com", phone=f"51255501{n:02d}"
        )
        if n % 2:
            make_feedback(lead, return_reason, status="accepted" if n == 1 else "failed")
    for query in ["O'Brien", "O'Brien3", "Mary", "mary3@example.com", "555010", "O'Brien, Mary", "Mary O'Brien", "M"]:
        expected = list(orm_search(query, 4))
        found = search_page(query, 4)
        assert [(lead.pk, lead.return_status, lead.conversion_status) for lead in found] == [
            (lead.pk, lead.return_status, lead.conversion_status) for lead in expected
        ], query
        assert [lead.received_at for lead in found] == [lead.received_at for lead in expected]
        assert [lead.exact_match for lead in found] == [lead.exact_match for lead in expected]
        assert all(type(lead.exact_match) is bool and type(lead.near_match) is bool for lead in found)
