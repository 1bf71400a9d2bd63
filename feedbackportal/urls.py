from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from feedbackportal.login import LoginView
from feedbackportal.roles import role_not_required

urlpatterns = [
    path("", include("feedbackportal.leads.urls")),
    path("feedback/", include("feedbackportal.feedback.urls")),
    path("imports/", include("feedbackportal.imports.urls")),
    path("reports/", include("feedbackportal.reports.urls")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", role_not_required(auth_views.LogoutView.as_view()), name="logout"),
    path("admin/", admin.site.urls),
    path("health/", include("feedbackportal.health.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("feedbackportal.sandbox.urls")))

admin.site.site_header = "Feedback Portal administration"
admin.site.site_title = "Feedback Portal admin"
