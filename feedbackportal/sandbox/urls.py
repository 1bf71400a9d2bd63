from django.urls import path

from feedbackportal.sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("feedback", views.feedback, name="feedback"),
    path("fault/<str:fault>/feedback", views.feedback, name="fault"),
]
