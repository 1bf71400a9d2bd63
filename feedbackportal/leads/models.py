import re

from django.db import models
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


class LeadQuerySet(models.QuerySet["Lead"]):
    def search(self, query: str) -> "LeadQuerySet":
        """Leads matching what an agent types: phone in any format, email, name or event id.

        Names match by prefix, case-insensitively: "Jo", "Blow, Jo", "Jo Blow" or "Blow Jo".
        Phone numbers match by any run of three or more digits. Event ids match in full or by
        a prefix of six or more characters.
        """
        query = " ".join(query.split())
        if not query:
            return self.none()
        lowered = query.lower()
        if is_event_id(query):
            return self.filter(event_id=lowered)
        if "@" in query:
            return self.filter(email__startswith=lowered)
        if PHONE_CHARACTERS_RE.fullmatch(query):
            return self._search_phone(query)
        if "," in query:
            last, _, first = (part.strip() for part in query.partition(","))
            if not last:
                return self.filter(first_name__istartswith=first) if first else self.none()
            matches = self.filter(last_name__istartswith=last)
            return matches.filter(first_name__istartswith=first) if first else matches
        whole = models.Q(first_name__istartswith=query) | models.Q(last_name__istartswith=query)
        words = query.split(" ")
        if len(words) == 1:
            one_word = whole | models.Q(email__startswith=lowered)
            if EVENT_ID_PREFIX_RE.fullmatch(lowered):
                # Hex like "5af4b9…" is an event id; a word like "Deface" may still be a name.
                one_word |= models.Q(event_id__startswith=lowered)
            return self.filter(one_word)
        # "Mary Ann Van der Berg": try every split into first and last name, in either order.
        names = whole
        for split in range(1, min(len(words), MAX_NAME_WORDS)):
            before, after = " ".join(words[:split]), " ".join(words[split:])
            names |= models.Q(first_name__istartswith=before, last_name__istartswith=after)
            names |= models.Q(first_name__istartswith=after, last_name__istartswith=before)
        return self.filter(names)

    def _search_phone(self, query: str) -> "LeadQuerySet":
        # "+1 512 555" is a partial number after the country code, which stored numbers do not have.
        digits = re.sub(r"\D", "", query)[1:] if query.startswith("+1") else phone_digits(query)
        if len(digits) < 3:
            return self.none()
        matches = models.Q(phone_digits__contains=digits)
        if query.isdigit() and len(query) >= 6:
            matches |= models.Q(event_id__startswith=query)  # an event id may begin with digits only
        return self.filter(matches)


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
