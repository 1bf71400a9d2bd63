import pytest


@pytest.fixture
def short_timeout(settings) -> float:
    settings.LEADCONDUIT_TIMEOUT = 0.5
    return settings.LEADCONDUIT_TIMEOUT
