from django.urls import path

from feedbackportal.health import views

urlpatterns = [path("", views.health, name="health")]
