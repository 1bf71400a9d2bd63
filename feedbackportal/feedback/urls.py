from django.urls import path

from feedbackportal.feedback import views
from feedbackportal.feedback.models import ActionKind

app_name = "feedback"

urlpatterns = [
    path("lead/<int:lead_pk>/", views.create, name="create"),
    path("event/", views.for_event, name="for_event"),
    path("<int:pk>/status/", views.status, name="status"),
    path("<int:pk>/undo/", views.undo, name="undo"),
    path("queue/", views.queue, name="queue"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/resend/", views.resolve, {"action": ActionKind.RESENT}, name="resend"),
    path("<int:pk>/confirm/", views.resolve, {"action": ActionKind.CONFIRMED}, name="confirm"),
    path("<int:pk>/cancel/", views.resolve, {"action": ActionKind.CANCELLED}, name="cancel"),
]
