from rest_framework.exceptions import PermissionDenied

from emma.models import Membership


def membership_for_user(user) -> Membership:
    """The caller's membership; a user who belongs to no tenant may use no tenant data."""
    try:
        return Membership.objects.select_related("tenant").get(user=user)
    except Membership.DoesNotExist:
        raise PermissionDenied("Your account belongs to no tenant; ask an admin to add you to one.")
