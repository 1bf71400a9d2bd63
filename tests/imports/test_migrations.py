"""Moving ImportJob / ImportRow from leads to imports keeps every row and every holder of import_data."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from feedbackportal.feedback.models import Feedback
from feedbackportal.imports.models import ImportJob, ImportRow
from tests.conftest import new_event_id

# The migrations that made the move; before them, ImportJob and ImportRow lived in leads.
MOVE = [("leads", "0008_imports_hand_over_import_models"), ("feedback", "0007_imports_permission_moved")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.migrate(targets).apps


def before_move() -> list[tuple[str, str | None]]:
    graph = MigrationExecutor(connection).loader.graph
    parents = [parent.key for key in MOVE for parent in graph.node_map[key].parents if parent.key[0] == key[0]]
    return [*parents, ("imports", None)]


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before_the_move(transactional_db):
    old = migrate(before_move())
    yield old
    migrate(latest())


def make_old_rows(old) -> dict:
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    Group = old.get_model("auth", "Group")
    OldUser = old.get_model("auth", "User")
    Lead = old.get_model("leads", "Lead")
    OldFeedback = old.get_model("feedback", "Feedback")
    OldJob = old.get_model("leads", "ImportJob")
    OldRow = old.get_model("leads", "ImportRow")
    feedback_type = ContentType.objects.get_or_create(app_label="feedback", model="feedback")[0]
    job_type = ContentType.objects.get_or_create(app_label="leads", model="importjob")[0]
    import_data = Permission.objects.get_or_create(
        content_type=feedback_type, codename="import_data", defaults={"name": "Can import"}
    )[0]
    view_job = Permission.objects.get_or_create(
        content_type=job_type, codename="view_importjob", defaults={"name": "Can view import job"}
    )[0]
    group = Group.objects.create(name="Importers")
    group.permissions.add(import_data)
    in_group = OldUser.objects.create(username="in-group")
    in_group.groups.add(group)
    direct = OldUser.objects.create(username="direct")
    direct.user_permissions.add(import_data, view_job)
    lead = Lead.objects.create(event_id=new_event_id())
    feedback = OldFeedback.objects.create(lead=lead, feedback_type="return", reason_text="Wrong number")
    job = OldJob.objects.create(kind="feedback", status="done", original_name="old.csv", processed=3)
    OldRow.objects.create(job=job, row_number=2, event_id=lead.event_id, result="created", feedback_id=feedback.pk)
    OldRow.objects.create(job=job, row_number=3, event_id=lead.event_id, result="created", feedback_id=987654)
    OldRow.objects.create(job=job, row_number=4, event_id="x", result="skipped", message="No event id.")
    return {"job": job.pk, "feedback": feedback.pk, "import_data": import_data.pk, "job_type": job_type.pk}


def test_migrating_forward_keeps_the_jobs_and_their_rows(before_the_move):
    made = make_old_rows(before_the_move)
    migrate(latest())
    job = ImportJob.objects.get(pk=made["job"])
    assert (job.original_name, job.processed) == ("old.csv", 3)
    rows = list(ImportRow.objects.filter(job=job).order_by("row_number"))
    assert [row.row_number for row in rows] == [2, 3, 4]
    assert rows[0].feedback == Feedback.objects.get(pk=made["feedback"])
    assert rows[1].feedback_id is None  # named no feedback: cleared, so the foreign key holds
    assert rows[2].message == "No event id."


def test_migrating_forward_keeps_who_may_import(before_the_move):
    made = make_old_rows(before_the_move)
    migrate(latest())
    for username in ("in-group", "direct"):
        assert User.objects.get(username=username).has_perm("imports.import_data"), username
    assert not User.objects.get(username="in-group").has_perm("feedback.import_data")
    assert User.objects.get(username="direct").has_perm("imports.view_importjob")
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    moved = Permission.objects.get(pk=made["import_data"])
    assert (moved.content_type.app_label, moved.content_type.model) == ("imports", "importjob")
    assert ContentType.objects.get(pk=made["job_type"]).app_label == "imports"
    assert not ContentType.objects.filter(app_label="leads", model="importjob").exists()
