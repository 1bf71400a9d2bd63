from django.urls import reverse

from feedbackportal.imports.models import ImportJob, ImportKind, ImportStatus


def test_admins_see_import_jobs_in_the_admin_read_only(admin_client):
    job = ImportJob.objects.create(kind=ImportKind.LEADS, status=ImportStatus.DONE, original_name="leads.csv")
    assert admin_client.get(reverse("admin:imports_importjob_changelist")).status_code == 200
    change = admin_client.get(reverse("admin:imports_importjob_change", args=[job.pk]))
    assert change.status_code == 200
    assert admin_client.get(reverse("admin:imports_importjob_add")).status_code == 403
