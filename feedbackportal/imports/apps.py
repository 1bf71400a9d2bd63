from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "feedbackportal.imports"
    label = "imports"

    def ready(self) -> None:
        from feedbackportal.feedback.sweeper import sweeping
        from feedbackportal.imports.sweeper import resume_imports

        # The worker's sweep also resumes imports whose worker died; feedback need not know about imports.
        sweeping.connect(resume_imports, dispatch_uid="imports_resume")
