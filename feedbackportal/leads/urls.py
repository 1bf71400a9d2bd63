from django.urls import path

from feedbackportal.leads import views

app_name = "leads"

urlpatterns = [
    path("", views.search, name="search"),
    path("leads/<int:pk>/", views.lead_detail, name="detail"),
    path("pop/", views.pop, name="pop"),
    path("intake/<slug:slug>/", views.intake, name="intake"),
]
