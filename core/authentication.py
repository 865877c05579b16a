"""The API's authentication: simplejwt's, with every check it makes, and the user's membership read in
the same query (every API view needs the tenant and role; a second query per request otherwise)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication


class _UsersWithMembership:
    """What simplejwt asks of its user model (`objects.get`, `DoesNotExist`), joined to the membership."""

    def __init__(self, model):
        self.objects = model.objects.select_related("membership")
        self.DoesNotExist = model.DoesNotExist


class JWTAuthentication(authentication.JWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithMembership(self.user_model)


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of simplejwt's class (drf-spectacular matches exact classes only)."""

    target_class = JWTAuthentication
