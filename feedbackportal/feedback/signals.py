"""Membership of the Admin group is what opens the Django admin: is_staff follows it."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import m2m_changed, post_save

ADMIN_GROUP = "Admin"


def sync_staff(user_ids: Iterable[int]) -> None:
    """Make is_staff true exactly for Admin group members (and superusers), for these users."""
    user_ids = list(user_ids)
    if not user_ids:
        return
    User = get_user_model()
    in_admin_group = Exists(User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name=ADMIN_GROUP))
    users = User.objects.filter(pk__in=user_ids)
    users.filter(Q(in_admin_group) | Q(is_superuser=True), is_staff=False).update(is_staff=True)
    users.filter(~Q(in_admin_group), is_superuser=False, is_staff=True).update(is_staff=False)


def on_groups_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not reverse:  # user.groups.add/remove/set/clear
        if action in ("post_add", "post_remove", "post_clear"):
            sync_staff([instance.pk])
        return
    # group.user_set.add/remove/clear: only the Admin group matters
    if not isinstance(instance, Group) or instance.name != ADMIN_GROUP:
        return
    if action == "pre_clear":
        instance._members_before_clear = list(  # type: ignore[attr-defined]  # read at post_clear
            instance.user_set.values_list("pk", flat=True)
        )
    elif action in ("post_add", "post_remove"):
        sync_staff(pk_set or ())
    elif action == "post_clear":
        sync_staff(getattr(instance, "_members_before_clear", ()))


def on_user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # A login only touches last_login; anything that may have changed is_staff is put right.
    if update_fields is not None and "is_staff" not in update_fields and "is_superuser" not in update_fields:
        return
    if created and not instance.is_staff:
        return  # a new user has no groups yet
    sync_staff([instance.pk])


def connect() -> None:
    User = get_user_model()
    m2m_changed.connect(on_groups_changed, sender=User.groups.through, dispatch_uid="admin_group_staff_groups")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="admin_group_staff_user")
