"""API building blocks shared by every app."""

from rest_framework import permissions, serializers
from rest_framework.pagination import PageNumberPagination

from emma.models import Membership
from emma.selectors import membership_for_user


class StrictSerializer(serializers.Serializer):
    """An input serializer that names unknown fields instead of silently ignoring them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class HasRole(permissions.BasePermission):
    """Requires a membership with one of `roles`; subclass with the roles a view needs."""

    roles: tuple[str, ...] = ()
    message = "Your role in this tenant does not allow this."

    def has_permission(self, request, view):
        return membership_for_user(request.user).role in self.roles


class IsApprover(HasRole):
    roles = (Membership.Role.APPROVER, Membership.Role.ADMIN)
    message = "Only approvers and admins may do this."


class IsTenantAdmin(HasRole):
    roles = (Membership.Role.ADMIN,)
    message = "Only tenant admins may do this."
