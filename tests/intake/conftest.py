import pytest

from feedbackportal.leads.models import Source

TOKEN = "s3cret-intake-token"


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="SunPeak Solar", slug="sunpeak", intake_token=TOKEN, return_window_days=7)
