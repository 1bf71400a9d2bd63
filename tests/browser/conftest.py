"""Fixtures for the browser tests: headless Chromium (Debian's, never a downloaded one) and a live worker."""

import os
import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import connections
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}  # the call-center monitor


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Slowest last, so a quick failure elsewhere shows first.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Browser tests need Debian's Chromium at {CHROMIUM} (make browser installs it).")
    # Playwright's sync API keeps an event loop running in this thread; while it does, Django's guard
    # would take the tests' own ORM calls (and the flush after each test) for calls from async code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_problems() -> list[str]:
    """Console errors and warnings (CSP violations among them) and uncaught exceptions, as they happen."""
    return []


@pytest.fixture
def page(chromium: Browser, live_server, browser_problems: list[str]) -> Iterator[Page]:
    context = chromium.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            browser_problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: browser_problems.append(f"uncaught: {error}"))
    yield page
    context.close()


@pytest.fixture
def delivery_worker() -> Iterator[Callable[[], None]]:
    """Start the real database worker loop in a thread; it stops (and closes its connections) at teardown."""
    worker = Worker(
        queue_names=["default"],
        interval=0.1,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="browser-test",
        excluded_queue_names=[],
    )
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []

    def loop() -> None:
        try:
            worker.run()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def start() -> None:
        thread = threading.Thread(target=loop, name="browser-test-worker", daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    worker.running = False
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "the worker thread did not stop"
    assert not errors, f"the worker crashed: {errors!r}"


def log_in(page: Page, username: str) -> None:
    """Sign in on the login form the page shows (every test user's password is "pw")."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Username")).to_have_count(0)
