import pytest

from feedbackportal.leads.templatetags.leads import phone


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("+15125551212", "(512) 555-1212"),
        ("512.555.1212", "(512) 555-1212"),
        ("(512) 555-1212", "(512) 555-1212"),
        ("1-512-555-1212", "(512) 555-1212"),
        ("555-1212", "555-1212"),  # not a full number: shown as it came
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("", ""),
    ],
)
def test_phone_numbers_are_shown_one_way(raw, shown):
    assert phone(raw) == shown
