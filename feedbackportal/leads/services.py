"""Writes for leads: a delivery from LeadConduit's delivery step stored as a lead; an agent opening a lead."""

from typing import NamedTuple

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from feedbackportal.leadconduit.delivery_format import BadDelivery, extract_fields, lookup
from feedbackportal.leads.models import BadPrice, Lead, LeadView, Source, lead_text_length, parse_price


class Received(NamedTuple):
    lead: Lead
    created: bool
    warnings: list[str]


def lead_receive(*, source: Source, payload: dict) -> Received:
    """Store the lead a delivery carries; a redelivery of the same event id updates it.

    A price that cannot be read is left out (the lead matters more) and named in ``warnings``.
    Raises BadDelivery when the event id is missing or malformed, or (status 409) when the event
    id already belongs to another source's lead.
    """
    text_fields = _fitted(extract_fields(payload, source.mapping))
    event_id = text_fields.pop("event_id")
    fields: dict[str, object] = dict(text_fields)
    warnings = []
    try:
        fields["price"] = parse_price(lookup(payload, source.price_parameter))
    except BadPrice as exc:
        warnings.append(f"{exc} in '{source.price_parameter}'; the lead was stored without a price.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(event_id=event_id).first()
        if lead is None:
            try:
                with transaction.atomic():
                    lead = Lead(event_id=event_id, source=source, raw_payload=payload, **fields)
                    lead.save()
                return Received(lead, True, warnings)
            except IntegrityError:  # the same event delivered twice at once: the other one won
                lead = Lead.objects.select_for_update().get(event_id=event_id)
        if lead.source_id not in (None, source.pk):
            raise BadDelivery("This event id belongs to a lead from another source.", status=409)
        for name, value in fields.items():
            if value or (name == "price" and value is not None):
                setattr(lead, name, value)
        lead.source, lead.source_name = source, source.name
        lead.raw_payload = payload
        lead.save()
    return Received(lead, False, warnings)


def _fitted(fields: dict[str, str]) -> dict[str, str]:
    # A long address should not cost us the lead: cut to the column, as LeadConduit's own fields are.
    return {name: value[: lead_text_length(name)] for name, value in fields.items()}


def lead_view_record(*, lead: Lead, user: User) -> None:
    """Note that the user opened the lead now (one row per user and lead, moved forward each time).

    One upsert, so two tabs opening the same lead at once cannot collide.
    """
    LeadView.objects.bulk_create(
        [LeadView(lead=lead, user=user, viewed_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "lead"],
        update_fields=["viewed_at"],
    )
