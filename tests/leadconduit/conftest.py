from collections.abc import Callable, Iterator

import pytest

from tests.leadconduit.raw_http import RawServer, Respond


@pytest.fixture
def raw_server(settings) -> Iterator[Callable[[Respond], RawServer]]:
    """Start a RawServer with a respond function and point the LeadConduit client at it."""
    servers: list[RawServer] = []

    def start(respond: Respond) -> RawServer:
        server = RawServer(respond)
        servers.append(server)
        settings.LEADCONDUIT_FEEDBACK_URL = server.url
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def short_timeout(settings) -> float:
    settings.LEADCONDUIT_TIMEOUT = 0.5
    return settings.LEADCONDUIT_TIMEOUT
