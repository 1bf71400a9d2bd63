import re

from django.db import models
from django.urls import reverse
from django.utils import timezone

from feedbackportal.leadconduit import LeadData


def phone_digits(value: str) -> str:
    """Digits of a North American phone number, without a leading country code 1."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


class LeadQuerySet(models.QuerySet["Lead"]):
    def search(self, query: str) -> "LeadQuerySet":
        """Leads matching what an agent types: phone in any format, email, name or event id."""
        query = " ".join(query.split())
        if not query:
            return self.none()
        one_word = (
            models.Q(first_name__istartswith=query)
            | models.Q(last_name__istartswith=query)
            | models.Q(email__startswith=query.lower())
        )
        if re.fullmatch(r"[0-9a-fA-F]{6,24}", query) and not query.isdigit():
            # Hex like "5af4b9…" is an event id; a word like "Deface" may still be a name.
            return self.filter(models.Q(event_id__startswith=query.lower()) | one_word)
        if "@" in query:
            return self.filter(email__startswith=query.lower())
        digits = phone_digits(query)
        if digits and not re.search(r"[a-zA-Z]", query):
            if len(query) == 24:
                return self.filter(event_id=query)
            if len(digits) < 3:
                return self.none()
            return self.filter(phone_digits__contains=digits)
        if "," in query:
            last, _, first = (part.strip() for part in query.partition(","))
            matches = self.filter(last_name__istartswith=last)
            return matches.filter(first_name__istartswith=first) if first else matches
        words = query.split(" ")
        if len(words) >= 2:
            first, last = words[0], " ".join(words[1:])
            return self.filter(
                models.Q(first_name__istartswith=first, last_name__istartswith=last)
                | models.Q(first_name__istartswith=last, last_name__istartswith=first)
            )
        return self.filter(one_word)


class Lead(models.Model):
    """A lead the company bought, with the LeadConduit event id feedback is given against."""

    event_id = models.CharField(max_length=24, unique=True, help_text="24 hex characters, lower case.")
    leadconduit_id = models.CharField("LeadConduit lead id", max_length=24, blank=True)
    first_name = models.CharField(max_length=100, blank=True, db_index=True)
    last_name = models.CharField(max_length=100, blank=True, db_index=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=40, blank=True)
    phone_digits = models.CharField(max_length=20, blank=True, db_index=True, editable=False)
    address = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    source_name = models.CharField("source", max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return self.full_name or f"Event {self.event_id}"

    def save(self, *args, **kwargs) -> None:
        self.event_id = self.event_id.strip().lower()
        self.email = self.email.strip().lower()
        self.phone_digits = phone_digits(self.phone)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", kwargs={"pk": self.pk})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

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
                setattr(self, ours, theirs[: self._meta.get_field(ours).max_length])
                changed.append(ours)
        return changed
