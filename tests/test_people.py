import pytest
from django.contrib.auth.models import User
from django.template import Context, Template


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        (User(username="jo", first_name="Jo", last_name="Agent"), "Jo Agent"),
        (User(username="jo"), "jo"),
        (None, "—"),
    ],
)
def test_every_template_names_a_person_one_way(user, shown):
    # A builtin: no {% load %} needed on any page.
    assert Template("{{ who|person }}").render(Context({"who": user})) == shown
