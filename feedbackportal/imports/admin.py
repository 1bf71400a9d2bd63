from django.contrib import admin
from django.http import HttpRequest

from feedbackportal.imports.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin[ImportJob]):
    list_display = ["pk", "kind", "original_name", "status", "processed", "total_rows", "created_by", "created_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [field.name for field in ImportJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
