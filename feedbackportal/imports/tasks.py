from django.core.files.storage import default_storage
from django.tasks import task

from feedbackportal.imports import runner
from feedbackportal.imports.models import ImportJob


@task()
def run_import(job_id: int) -> str:
    """Import one uploaded CSV (leads or bulk feedback) in the worker, never in a web request."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not job.file.name:
        return "missing"
    name: str = job.file.name
    job = runner.run_import(job, lambda: default_storage.open(name, "rb"))
    return job.status
