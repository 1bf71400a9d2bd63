import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.db.models.functions import Reverse
from django.urls import reverse
from django.utils import timezone

from feedbackportal.leadconduit import LeadData, is_event_id


def phone_digits(value: str) -> str:
    """Digits of a North American phone number, without a leading country code 1."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


EVENT_ID_PREFIX_RE = re.compile(r"[0-9a-f]{6,24}")
PHONE_CHARACTERS_RE = re.compile(r"[\d\s().+\-]+")
MAX_NAME_WORDS = 6
# A search looks for partial matches among this many newest leads before looking among all: a common
# start ("F", "Jo") has a page of them there (1.3 ms at a million leads, where sorting all took 450).
RECENT_WINDOW = 5000
# Up to this many characters a name or email start may be common (RECENT_WINDOW is asked first);
# longer ones start few enough leads to find and sort them all, which costs less than the window.
SHORT_START = 4
# What search_terms' ways test, with what ranked_search sorts by.
SEARCHED_COLUMNS = ("id", "received_at", "first_name", "last_name", "email", "phone_digits", "event_id")
# Leads of the same person (same phone digits or email) received this close together are duplicates.
DUPLICATE_WINDOW = timedelta(days=90)
# Fewer digits than a local number identify nobody ("0", "123"): no duplicate by phone then.
DUPLICATE_MIN_PHONE_DIGITS = 7


class LeadQuerySet(models.QuerySet["Lead"]):
    def search(self, query: str) -> "LeadQuerySet":
        """Leads matching what an agent types: phone in any format, email, name or event id.

        Names match by prefix, case-insensitively: "Jo", "Blow, Jo", "Jo Blow" or "Blow Jo".
        Phone numbers match by any run of three or more digits. Event ids match in full or by
        a prefix of six or more characters.
        """
        match = search_terms(query)
        return self.filter(match.matches) if match else self.none()

    def ranked_search(self, query: str, limit: int) -> "LeadQuerySet":
        """The first `limit` leads search() finds: exact matches first (the whole name, email or number
        typed), then near ones (a number ending with the digits typed, a whole last name with the
        start of a first name: SearchTerms.near), then newest first. Each has `exact_match` and
        `near_match` (True for a match of either).

        One query, cheap however large the table and however common the term. It picks candidates
        and sorts only those:
        - for each way to match exactly (a first name, a last name, an email…), its newest `limit`
          rows, read newest first from its (value, received_at, id) index (migration 0010) and
          stopped there: "Smith" among a million leads reads 26 entries, not every Smith;
        - only when those are fewer than `limit`, the newest `limit` near matches, sorted from their
          index (of reversed numbers, migration 0013; of both names, migration 0011);
        - only when those are fewer than `limit`, for each partial way (a start, a fragment) its
          newest `limit` among the newest RECENT_WINDOW leads: a common start ("F", "Jo") has a
          page of matches there, which are then its newest of all, however many there are;
        - only when those are fewer than `limit` too, for each partial way its newest `limit` of
          all, found through its own index and sorted.
        None walks received_at newest first, testing every lead until enough match (seconds at a
        million leads when they are rare, or all old): an exact way's index holds just its rows in
        order, cheaper to read than any walk, the window is a walk that stops after RECENT_WINDOW
        leads, and a partial way's sort hides the order (_newest).
        """
        terms = search_terms(query)
        return self.ranked(terms, limit, short=short_start(query)) if terms else self.none()

    def ranked(self, terms: "SearchTerms", limit: int, *, short: bool) -> "LeadQuerySet":
        """ranked_search() for a query's terms (`short`: the query is a short start, short_start())."""
        exact_sql, params = self._newest([way.match for way in terms.exact], limit, walk_safe=True)
        named = [f"exact AS ({exact_sql})"]
        arms: list[tuple[str, list]] = [("SELECT id FROM exact", [])]
        # Each arm after the first is asked only when those before it do not fill the page
        # (PostgreSQL runs a constant condition first, and skips what it guards when false; a WITH
        # query read twice runs once).
        too_few = ["(SELECT COUNT(*) FROM exact) < %s"]
        # Near matches (a number's end, a whole last name) rank before the other partial matches. On
        # PostgreSQL their newest `limit` are read from an index (0013's of reversed numbers, 0011's
        # of both names); elsewhere the partial ways' one scan sorts them first instead of a second
        # scan finding them.
        near_apart = bool(terms.near) and connections[self.db].vendor == "postgresql"
        if near_apart:
            near_sql, near_params = self._newest(terms.near, limit, walk_safe=False)
            named.append(f"near AS ({near_sql})")
            params += near_params
            arms.append((f"SELECT id FROM near WHERE {' AND '.join(too_few)}", [limit] * len(too_few)))
            too_few.append("(SELECT COUNT(*) FROM near) < %s")
        if terms.partial and short:
            # Any partial way, in one pass over the window: no index is used there to pick one.
            recent_sql, recent_params = self._newest([_any(terms.partial)], limit, walk_safe=True, within=RECENT_WINDOW)
            named.append(f"recent AS ({recent_sql})")
            params += recent_params
            arms.append((f"SELECT id FROM recent WHERE {' AND '.join(too_few)}", [limit] * len(too_few)))
            too_few.append("(SELECT COUNT(*) FROM recent) < %s")
        if terms.partial:
            ahead = None if near_apart or not terms.near else terms.near_match
            partial_sql, partial_params = self._newest(terms.partial, limit, walk_safe=False, ahead=ahead)
            guarded = f"SELECT id FROM ({partial_sql}) AS partial WHERE {' AND '.join(too_few)}"
            arms.append((guarded, [*partial_params, *[limit] * len(too_few)]))
        candidates = f"WITH {', '.join(named)} {' UNION '.join(sql for sql, _ in arms)}"
        params += [value for _, values in arms for value in values]
        # Every candidate an exact match finds comes from the first list: an exact match outside it
        # is older than `limit` that are in it, so it sorts after them and off the page. So for the
        # near ones: one outside their list sorts after `limit` of them.
        found = self.filter(pk__in=RawSQL(candidates, params)).annotate(
            exact_match=_matched(terms.exact_match), near_match=_matched(terms.near_match)
        )
        return found.order_by("-exact_match", "-near_match", "-received_at", "-id")[:limit]

    def _newest(
        self,
        ways: list[models.Q],
        limit: int,
        *,
        walk_safe: bool,
        within: int | None = None,
        ahead: models.Q | None = None,
    ) -> tuple[str, list]:
        """SQL for the newest `limit` leads of each way, as (id, received_at) rows: a UNION of one
        subquery per way, each a derived table (SQLite takes no LIMIT in a UNION's arms).

        An exact way (`walk_safe`) is sorted newest first: for a name or an email, the order its
        (value, received_at, id) index holds its rows in, which PostgreSQL reads and stops. A partial
        way is sorted on an expression no index holds: its matches are found through their own index
        and sorted, as the received_at index could otherwise be walked looking for them. `within`
        looks only at that many newest leads (a derived table of them, read first), for any way;
        `ahead` sorts the leads it matches before the others.
        """
        rows = self.order_by().values_list("id", "received_at")
        newest = models.F("received_at") if walk_safe else NotIndexed("received_at", output_field=_WHEN)
        order: list[str | models.expressions.Combinable] = [newest.desc(), "-id"]
        if ahead is not None:
            order.insert(0, _matched(ahead).desc())
        arms = []
        params: list = []
        for n, way in enumerate(ways):
            sql, arm_params = rows.filter(way).order_by(*order)[:limit].query.sql_with_params()
            if within:
                sql = self._within_newest(sql, within)
            arms.append(f"SELECT * FROM ({sql}) AS way{n}")
            params += arm_params
        return " UNION ".join(arms), params

    def _within_newest(self, sql: str, window: int) -> str:
        """A query of the leads table alone made to read only its `window` newest leads, with the
        columns a search tests: the table is swapped for a derived table of them, `newest_leads`."""
        quote = connections[self.db].ops.quote_name
        table, alias = quote(self.model._meta.db_table), quote("newest_leads")
        if sql.count(f" FROM {table} ") != 1 or " JOIN " in sql:
            raise ValueError(f"not a query of {table} alone: {sql}")
        columns = ", ".join(quote(column) for column in SEARCHED_COLUMNS)
        received, key = quote("received_at"), quote("id")
        newest = f"SELECT {columns} FROM {table} ORDER BY {received} DESC, {key} DESC LIMIT {int(window)}"
        return sql.replace(f"{table}.", f"{alias}.").replace(f" FROM {table} ", f" FROM ({newest}) AS {alias} ")

    def duplicates_of(self, lead: "Lead") -> "LeadQuerySet":
        """Other leads with the lead's phone digits or email, from any source, received within
        DUPLICATE_WINDOW of it (before or after), newest first.

        Found through the phone_digits equality index and the email's (email, received_at, id)
        pattern index (which serves equality and the date range too) on PostgreSQL; EXPLAIN test in
        tests/leads/test_search_plans.py.
        """
        same_person = models.Q()
        if len(lead.phone_digits) >= DUPLICATE_MIN_PHONE_DIGITS:
            same_person |= models.Q(phone_digits=lead.phone_digits)
        if lead.email:
            # Emails are stored lower case. The prefix test is what the indexes serve: PostgreSQL's
            # pattern index takes = as well, but SQLite's NOCASE index only serves LIKE (= scans).
            same_person |= models.Q(email__startswith=lead.email, email=lead.email)
        if not same_person:
            return self.none()
        return (
            self.filter(same_person)
            .alias(received=NotIndexedOnSQLite("received_at", output_field=models.DateTimeField()))
            .filter(received__range=(lead.received_at - DUPLICATE_WINDOW, lead.received_at + DUPLICATE_WINDOW))
            .exclude(pk=lead.pk)
            .order_by("-received_at", "-id")
        )


def _matched(ways: models.Q) -> models.Expression:
    """True for a lead that matches one of the ways (False when there are none)."""
    if not ways:
        return models.Value(False, output_field=models.BooleanField())
    return models.Case(
        models.When(ways, then=models.Value(True)), default=models.Value(False), output_field=models.BooleanField()
    )


def short_start(query: str) -> bool:
    """Whether the query is the first few letters of a name or email, which may start a large share of
    all leads ("F", "Jo"), found then among the newest (ranked_search). Digits go to the phone
    number's trigram index, where three or four already pick out few."""
    query = " ".join(query.split())
    return len(query) <= SHORT_START and not PHONE_CHARACTERS_RE.fullmatch(query)


class NotIndexedOnSQLite(models.Func):
    """A column's value that SQLite's planner will not look up by index (a unary +, SQLite's no-op).

    Left to itself SQLite walks a date range through its index, where the few rows the other
    conditions find through theirs are much cheaper. Other databases get the plain column.
    """

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra_context)


class NotIndexed(NotIndexedOnSQLite):
    """A timestamp's value that no index holds in order, on PostgreSQL too (plus a zero interval):
    sorting on it keeps the planner from walking the column's index to find a LIMIT's rows."""

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="(%(expressions)s + interval '0')", **extra_context)


_WHEN = models.DateTimeField()


@dataclass(frozen=True)
class Exact:
    """An exact way to match: a whole name, email, number or event id."""

    match: models.Q
    # A partial way finds these too (a name starts with itself), so search() need not ask twice:
    # a redundant OR makes PostgreSQL guess far more matches, and plan for them.
    found_by_partial: bool = True


def _exact_name(first: str | None = None, last: str | None = None) -> Exact:
    """A whole first name, last name, or both."""
    fields = {"first_name__iexact": first, "last_name__iexact": last}
    return Exact(models.Q(**{field: value for field, value in fields.items() if value is not None}))


def _exact(field: str, value: str, *, found_by_partial: bool = True) -> Exact:
    return Exact(models.Q(**{field: value}), found_by_partial)


def _exact_email(email: str) -> Exact:
    # The prefix test too, as in duplicates_of: SQLite's NOCASE index serves LIKE only (= scans).
    return Exact(models.Q(email__startswith=email, email=email))


@dataclass(frozen=True)
class SearchTerms:
    """What an agent's query finds, as the ways to match it, each one index lookup."""

    exact: list[Exact]  # the agent typed it in full: a whole name, email, number or event id
    partial: list[models.Q]  # it starts with what was typed (a phone number: holds it anywhere)
    # Near: partial matches ranked after the exact ones and before the rest (ranked_search). A phone
    # number that ends with the digits typed ("the last four of your number"); the whole last name
    # typed with the start of a first name ("Smith, Jo": the Smiths named Jo… before Smithers, Jo…).
    near: list[models.Q] = field(default_factory=list)

    @property
    def matches(self) -> models.Q:
        return _any([way.match for way in self.exact if not way.found_by_partial] + self.partial)

    @property
    def exact_match(self) -> models.Q:
        return _any([way.match for way in self.exact])

    @property
    def near_match(self) -> models.Q:
        return _any(self.near)

    def shape(self) -> tuple["SearchShape", list[str]]:
        """These terms with each value typed replaced by a numbered placeholder (placeholder()), and the
        values in that order. Queries of one shape ("Smith" and "Jones") give equal shapes, whose SQL is
        the same but for the values (leads.selectors.search_page)."""
        values: list[str] = []
        exact = tuple(Exact(_with_placeholders(way.match, values), way.found_by_partial) for way in self.exact)
        partial = tuple(_with_placeholders(way, values) for way in self.partial)
        near = tuple(_with_placeholders(way, values) for way in self.near)
        return SearchShape(exact, partial, near), values


@dataclass(frozen=True)
class SearchShape:
    """SearchTerms with placeholders for their values: hashable, equal for queries of one shape."""

    exact: tuple[Exact, ...]
    partial: tuple[models.Q, ...]
    near: tuple[models.Q, ...]

    def terms(self) -> SearchTerms:
        return SearchTerms(list(self.exact), list(self.partial), list(self.near))


def placeholder(n: int) -> str:
    """The text that stands for the nth value of a SearchShape: private-use characters no query holds,
    around a % that shows whether a lookup escaped it for LIKE (PLACEHOLDER_RE)."""
    return f"\ue000{n}%\ue001"


PLACEHOLDER_RE = re.compile("\ue000" r"(\d+)(\\?%)" "\ue001")


def _with_placeholders(way: models.Q, values: list[str]) -> models.Q:
    children: list = []
    for child in way.children:
        if isinstance(child, models.Q):
            children.append(_with_placeholders(child, values))
            continue
        if not isinstance(child, tuple):
            raise TypeError(f"a search way holds (lookup, value) pairs, not {child!r}")
        lookup, value = child
        if not isinstance(value, str):
            raise TypeError(f"{lookup}: a search value is text, not {value!r}")
        children.append((lookup, placeholder(len(values))))
        values.append(value)
    return models.Q(*children, _connector=way.connector, _negated=way.negated)


def _any(ways: list[models.Q]) -> models.Q:
    found = models.Q()
    for way in ways:
        found |= way
    return found


def search_terms(query: str) -> SearchTerms | None:
    """What an agent's query matches, and which of those are exact; None when it can match nothing."""
    query = " ".join(query.split())
    if not query:
        return None
    lowered = query.lower()
    if is_event_id(query):
        return SearchTerms([_exact("event_id", lowered, found_by_partial=False)], [])
    if "@" in query:
        return SearchTerms([_exact_email(lowered)], [models.Q(email__startswith=lowered)])
    if PHONE_CHARACTERS_RE.fullmatch(query):
        return _phone_terms(query)
    if "," in query:
        last, _, first = (part.strip() for part in query.partition(","))
        if not last:
            if not first:
                return None
            return SearchTerms([_exact_name(first=first)], [models.Q(first_name__istartswith=first)])
        if not first:
            return SearchTerms([_exact_name(last=last)], [models.Q(last_name__istartswith=last)])
        return SearchTerms(
            [_exact_name(first=first, last=last)],
            [models.Q(last_name__istartswith=last, first_name__istartswith=first)],
            [_last_and_first_start(last, first)],
        )
    exact = [_exact_name(first=query), _exact_name(last=query)]
    partial = [models.Q(first_name__istartswith=query), models.Q(last_name__istartswith=query)]
    words = query.split(" ")
    if len(words) == 1:
        exact.append(_exact_email(lowered))
        partial.append(models.Q(email__startswith=lowered))
        if EVENT_ID_PREFIX_RE.fullmatch(lowered):
            # Hex like "5af4b9…" is an event id; a word like "Deface" may still be a name.
            partial.append(models.Q(event_id__startswith=lowered))
        return SearchTerms(exact, partial)
    # "Mary Ann Van der Berg": try every split into first and last name, in either order.
    near = []
    for split in range(1, min(len(words), MAX_NAME_WORDS)):
        before, after = " ".join(words[:split]), " ".join(words[split:])
        exact.append(_exact_name(first=before, last=after))
        exact.append(_exact_name(first=after, last=before))
        partial.append(models.Q(first_name__istartswith=before, last_name__istartswith=after))
        partial.append(models.Q(first_name__istartswith=after, last_name__istartswith=before))
        near.append(_last_and_first_start(after, before))
        near.append(_last_and_first_start(before, after))
    return SearchTerms(exact, partial, near)


def _last_and_first_start(last: str, first: str) -> models.Q:
    """The whole last name and the start of a first name: one range of the index of both names
    (migration 0011), where both starts ("Last15, First2": 55,000 last names at a million leads)
    read and sort every match (20-70 ms uncached)."""
    return models.Q(last_name__iexact=last, first_name__istartswith=first)


def _phone_terms(query: str) -> SearchTerms | None:
    # "+1 512 555" is a partial number after the country code, which stored numbers do not have.
    digits = re.sub(r"\D", "", query)[1:] if query.startswith("+1") else phone_digits(query)
    if len(digits) < 3:
        return None
    # A whole number is looked up in its b-tree index; a fragment (it may sit anywhere) in the
    # trigram index on PostgreSQL (migration 0007), by a scan elsewhere.
    exact = [_exact("phone_digits", digits, found_by_partial=len(digits) != 10)]
    partial = [] if len(digits) == 10 else [models.Q(phone_digits__contains=digits)]
    # A number's last digits are read from the index of reversed numbers (migration 0013): the newest
    # of them fill the page from the index alone, where the trigram index's matches were each read
    # from the table to test and sort them (the last 4 digits, about 700 matches at a million leads).
    # "+1 512" is a number's start: no end to rank first.
    near = (
        []
        if len(digits) == 10 or query.startswith("+1")
        else [models.Q(phone_digits__reverse__startswith=digits[::-1])]
    )
    if query.isdigit() and len(query) >= 6:
        exact.append(_exact("event_id", query))  # an event id may begin with digits only
        partial.append(models.Q(event_id__startswith=query))
    return SearchTerms(exact, partial, near)


# Lead field → the parameter LeadConduit's delivery step (or a CSV) calls it, unless a source says otherwise.
DEFAULT_FIELD_MAPPING = {
    "event_id": "event_id",
    "leadconduit_id": "lead_id",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone_1",
    "address": "address_1",
    "city": "city",
    "state": "state",
    "postal_code": "postal_code",
}


# Money fields a source may map too (the seller names the parameter), kept apart from the lead's text fields.
DEFAULT_MONEY_MAPPING = {"price": "price"}
PRICE_MAX_DIGITS = 10
PRICE_PLACES = 2


class BadPrice(ValueError):
    """A price that is not an amount of money we can store (not a number, negative, or too large)."""


def parse_price(value: object) -> Decimal | None:
    """A lead's price as text or number ("12.50", 12.5, "$1,200") → Decimal with cents; blank → None.

    Raises BadPrice for anything else. Floats go through their shortest text, never binary fractions.
    """
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise BadPrice(f"{value!r} is not a price")
        return None
    text = str(value).strip().replace(",", "").removeprefix("$").strip()
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise BadPrice(f"{str(value)[:40]!r} is not a price") from None
    if not price.is_finite() or price < 0:
        raise BadPrice(f"{str(value)[:40]!r} is not a price")
    price = price.quantize(Decimal(1).scaleb(-PRICE_PLACES))
    if len(price.as_tuple().digits) > PRICE_MAX_DIGITS:
        raise BadPrice(f"{str(value)[:40]!r} is too large a price")
    return price


def default_field_mapping() -> dict[str, str]:
    return dict(DEFAULT_FIELD_MAPPING)


def new_intake_token() -> str:
    return secrets.token_urlsafe(32)


class Source(models.Model):
    """A seller (a LeadConduit flow's delivery step) that sends us leads, and its rules for feedback."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=60, unique=True, help_text="Part of the intake address: /intake/<slug>/ (letters, digits, -)."
    )
    intake_token = models.CharField(
        max_length=100,
        default=new_intake_token,
        help_text="The secret LeadConduit sends, as the X-Intake-Token header or the HTTP Basic password.",
    )
    field_mapping = models.JSONField(
        default=default_field_mapping,
        blank=True,
        help_text=(
            "Which incoming parameter holds each lead field, e.g. "
            '{"event_id": "event_id", "phone": "phone_1"}. Fields left out use the default name; '
            "a dotted name (lead.email) reads a nested value."
        ),
    )
    return_window_days = models.PositiveIntegerField(
        "return window (days)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(3650)],
        help_text="How many days after the lead this seller accepts a return. Empty: no limit we know of.",
    )
    max_return_percent = models.DecimalField(
        "maximum returns (% per month)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=(
            "The seller's cap on returns in a calendar month, as a share of the leads received that month "
            "(LeadExec's Maximum Return Percentage). Empty: no cap we know of."
        ),
    )
    active = models.BooleanField(default=True, help_text="An inactive source's deliveries are refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        mapping = self.field_mapping or {}
        if not isinstance(mapping, dict):
            raise ValidationError({"field_mapping": 'Give an object: {"lead field": "incoming parameter"}.'})
        unknown = sorted(set(mapping) - set(DEFAULT_FIELD_MAPPING) - set(DEFAULT_MONEY_MAPPING))
        if unknown:
            known = ", ".join([*DEFAULT_FIELD_MAPPING, *DEFAULT_MONEY_MAPPING])
            raise ValidationError({"field_mapping": f"Unknown lead field(s): {', '.join(unknown)}. Known: {known}."})
        if not all(isinstance(name, str) and name.strip() for name in mapping.values()):
            raise ValidationError({"field_mapping": "Each parameter name must be non-empty text."})

    @property
    def mapping(self) -> dict[str, str]:
        """The full mapping: this source's names over the defaults."""
        overrides = self.field_mapping if isinstance(self.field_mapping, dict) else {}
        return DEFAULT_FIELD_MAPPING | {
            field: name.strip()
            for field, name in overrides.items()
            if field in DEFAULT_FIELD_MAPPING and isinstance(name, str) and name.strip()
        }

    @property
    def price_parameter(self) -> str:
        """The incoming parameter that holds the lead's price (``price`` unless mapped, e.g. to ``cost``)."""
        overrides = self.field_mapping if isinstance(self.field_mapping, dict) else {}
        name = overrides.get("price")
        return name.strip() if isinstance(name, str) and name.strip() else DEFAULT_MONEY_MAPPING["price"]

    def get_intake_path(self) -> str:
        return reverse("leads:intake", kwargs={"slug": self.slug})


class SourceReasonWording(models.Model):
    """The words one seller accepts for one of our catalog reasons (sent instead of the catalog text)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="wordings")
    reason = models.ForeignKey("feedback.Reason", on_delete=models.PROTECT, related_name="source_wordings")
    text = models.CharField("text sent to LeadConduit", max_length=255)

    class Meta:
        ordering = ["source", "reason"]
        constraints = [
            models.UniqueConstraint(fields=["source", "reason"], name="one_wording_per_source_and_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def reason_text_for(*, source_id: int | None, reason_id: int, catalog_text: str) -> str:
    """The reason text to send for a lead of this source: its override if it has one, else the catalog's."""
    if source_id is None:
        return catalog_text
    override = (
        SourceReasonWording.objects.filter(source_id=source_id, reason_id=reason_id).values_list("text", flat=True)
    ).first()
    return override.strip() if override and override.strip() else catalog_text


FEEDBACK_SUMMARY = ("last_counted_return_at", "last_accepted_return_at", "last_accepted_conversion_at")


class Lead(models.Model):
    """A lead the company bought, with the LeadConduit event id feedback is given against."""

    event_id = models.CharField(max_length=24, unique=True, help_text="24 hex characters, lower case.")
    leadconduit_id = models.CharField("LeadConduit lead id", max_length=24, blank=True)
    # Searched through the indexes of migrations 0004, 0007 and 0010 (on PostgreSQL UPPER() pattern
    # indexes with received_at, newest first; NOCASE on SQLite): a plain index would never be used.
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    phone_digits = models.CharField(max_length=20, blank=True, editable=False)
    address = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    source_name = models.CharField("source", max_length=100, blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="leads")
    price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="What the lead cost (from the delivery, a CSV or LeadConduit's reply); empty when unknown.",
    )
    raw_payload = models.JSONField(
        null=True, blank=True, help_text="The last delivery or CSV row this lead came from, as it arrived."
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the newest of the lead's feedbacks of three kinds was given (counted as in the rates: not
    # cancelled or failed). Kept by the database itself, by triggers on the feedback table (migration
    # 0012), whoever writes a feedback and however; never written from here (save() leaves them
    # out). The rates' lead cohort reads them instead of looking each lead up among the feedback.
    last_counted_return_at = models.DateTimeField(null=True, editable=False)
    last_accepted_return_at = models.DateTimeField(null=True, editable=False)
    last_accepted_conversion_at = models.DateTimeField(null=True, editable=False)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        # A whole phone number is an equality lookup (db_index would add an unused LIKE index on
        # PostgreSQL); fragments use the trigram index of migration 0007.
        indexes = [models.Index(fields=["phone_digits"], name="leads_lead_phone_digits_eq")]

    def __str__(self) -> str:
        return self.full_name or f"Event {self.event_id}"

    def save(self, *args, **kwargs) -> None:
        self.normalize()
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # Every field but the feedback summary, which a trigger may have changed since this copy was read.
            skipped = {*FEEDBACK_SUMMARY, *self.get_deferred_fields()}
            kwargs["update_fields"] = [
                field.attname
                for field in self._meta.concrete_fields
                if not field.primary_key and field.attname not in skipped
            ]
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", kwargs={"pk": self.pk})

    def normalize(self) -> None:
        """What save() does before writing; call it before bulk_create/bulk_update, which skip save()."""
        self.event_id = self.event_id.strip().lower()
        self.email = self.email.strip().lower()
        self.phone_digits = phone_digits(self.phone)[: lead_text_length("phone_digits")]
        if not self.source_name and self.source_id is not None and self.source is not None:
            self.source_name = self.source.name[: lead_text_length("source_name")]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def return_deadline(self) -> datetime | None:
        """When the seller's return window closes, if the lead's source has one."""
        if self.source is None or self.source.return_window_days is None:
            return None
        try:
            return self.received_at + timedelta(days=self.source.return_window_days)
        except OverflowError:  # a window longer than the calendar: no limit in practice
            return None

    @property
    def return_window_open(self) -> bool:
        deadline = self.return_deadline
        return deadline is None or timezone.now() < deadline

    @property
    def is_placeholder(self) -> bool:
        """Known only by its event id: LeadConduit's reply will fill in the rest."""
        return not (self.first_name or self.last_name or self.email or self.phone)

    def fill_from(self, data: LeadData) -> list[str]:
        """Fill blank fields from LeadConduit's copy of the lead; never overwrite what we have."""
        changed = []
        for ours, theirs in (
            ("leadconduit_id", data.id),
            ("first_name", data.first_name),
            ("last_name", data.last_name),
            ("email", data.email),
            ("phone", data.phone_1),
        ):
            if theirs and not getattr(self, ours):
                setattr(self, ours, theirs[: lead_text_length(ours)])
                changed.append(ours)
        return changed


# phone_digits__reverse: the reversed number, whose start is the number's end (search_terms).
Lead._meta.get_field("phone_digits").register_lookup(Reverse)


def lead_text_length(name: str) -> int:
    """How many characters the Lead text column ``name`` holds (what imports and deliveries cut to)."""
    field = Lead._meta.get_field(name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise TypeError(f"Lead.{name} is not a text column with a length.")
    return field.max_length


class LeadView(models.Model):
    """When an agent last opened a lead's page: with the feedback they gave, their recent work."""

    # The unique constraint's (user, lead) index serves lookups by user: no separate one.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lead"], name="one_lead_view_per_user_and_lead")]
        indexes = [models.Index(fields=["user", "-viewed_at"], name="lead_view_user_newest")]

    def __str__(self) -> str:
        return f"{self.user_id} opened lead {self.lead_id} at {self.viewed_at:%Y-%m-%d %H:%M}"
