"""Migration 0009 gives each active reason the digit agents pressed for it before keys existed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from feedbackportal.feedback.models import Reason

BEFORE_KEYS = [("feedback", "0008_use_desk_permission")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.migrate(targets).apps


@pytest.fixture
def before_keys(transactional_db):
    old = migrate(BEFORE_KEYS)
    yield old
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_reasons_get_the_digits_agents_press_today(before_keys):
    OldReason = before_keys.get_model("feedback", "Reason")
    OldReason.objects.all().delete()
    for position, label in [(5, "Bravo"), (1, "Charlie"), (5, "Alpha"), (2, "Asleep")]:
        OldReason.objects.create(
            feedback_type="return", label=label, text=label, position=position, active=label != "Asleep"
        )
    for n in range(11):
        OldReason.objects.create(feedback_type="conversion", label=f"Conv {n:02}", text="c", position=n)
    OldReason.objects.create(feedback_type="return", label="Duplicate lead", text="Duplicate lead", position=9)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    keys = dict(Reason.objects.for_type("return").values_list("label", "hotkey"))
    assert keys == {"Charlie": 1, "Alpha": 2, "Bravo": 3, "Duplicate lead": 4, "Asleep": None}
    conversions = list(Reason.objects.for_type("conversion").order_by("position").values_list("hotkey", flat=True))
    assert conversions == [1, 2, 3, 4, 5, 6, 7, 8, 9, None, None]
    assert list(Reason.objects.filter(is_duplicate_reason=True).values_list("label", flat=True)) == ["Duplicate lead"]
