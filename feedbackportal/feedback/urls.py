from django.urls import path

from feedbackportal.feedback import views

app_name = "feedback"

urlpatterns = [
    path("lead/<int:lead_pk>/", views.create, name="create"),
    path("event/", views.for_event, name="for_event"),
    path("<int:pk>/status/", views.status, name="status"),
]
