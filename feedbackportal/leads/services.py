"""Writes for leads: a delivery from LeadConduit's delivery step stored as a lead."""

from django.db import IntegrityError, transaction

from feedbackportal.leadconduit.delivery_format import BadDelivery, extract_fields
from feedbackportal.leads.models import Lead, Source, lead_text_length


def lead_receive(*, source: Source, payload: dict) -> tuple[Lead, bool]:
    """Store the lead a delivery carries; a redelivery of the same event id updates it.

    Returns (lead, created). Raises BadDelivery when the event id is missing or malformed, or
    (status 409) when the event id already belongs to another source's lead.
    """
    fields = _fitted(extract_fields(payload, source.mapping))
    event_id = fields.pop("event_id")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(event_id=event_id).first()
        if lead is None:
            try:
                with transaction.atomic():
                    lead = Lead(event_id=event_id, source=source, raw_payload=payload, **fields)
                    lead.save()
                return lead, True
            except IntegrityError:  # the same event delivered twice at once: the other one won
                lead = Lead.objects.select_for_update().get(event_id=event_id)
        if lead.source_id not in (None, source.pk):
            raise BadDelivery("This event id belongs to a lead from another source.", status=409)
        for name, value in fields.items():
            if value:
                setattr(lead, name, value)
        lead.source, lead.source_name = source, source.name
        lead.raw_payload = payload
        lead.save()
    return lead, False


def _fitted(fields: dict[str, str]) -> dict[str, str]:
    # A long address should not cost us the lead: cut to the column, as LeadConduit's own fields are.
    return {name: value[: lead_text_length(name)] for name, value in fields.items()}
