from core.errors import Forbidden
from core.models import Membership


def membership_for_user(user) -> Membership:
    """The caller's membership; a user who belongs to no tenant may use no tenant data."""
    try:
        return user.membership  # cached on the user object: one query per request
    except (Membership.DoesNotExist, AttributeError):  # AttributeError: an anonymous user
        raise Forbidden("Your account belongs to no tenant; ask an admin to add you to one.")
