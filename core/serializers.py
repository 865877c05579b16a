"""API building blocks shared by every app."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.pagination import PageNumberPagination

from core.models import Membership
from core.selectors import active_membership


class StrictSerializer(serializers.Serializer):
    """An input serializer that names unknown fields instead of silently ignoring them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class NoInput(StrictSerializer):
    """The input of an action that takes none: no body, or `{}`. Its body is still read, so what the parser
    refuses (not JSON, hostile JSON) and any field sent is a 400, never ignored while the action goes ahead."""

    @classmethod
    def check(cls, request) -> None:
        cls(data=request.data).is_valid(raise_exception=True)


class ErrorSerializer(serializers.Serializer):
    """The one error body of every 4xx and 5xx (core.errors)."""

    @extend_schema_serializer(component_name="ErrorDetail")
    class DetailSerializer(serializers.Serializer):
        code = serializers.CharField(help_text="What went wrong, for machines: `validation_error`, `not_found`, ...")
        message = serializers.CharField(help_text="What went wrong, for people.")
        details = serializers.DictField(help_text="Each invalid field with its messages, or the numbers of a "
                                                  "limit (`retry_after_seconds`, `max_bytes`).")

    error = DetailSerializer()


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ListFilterSerializer(StrictSerializer):
    """The query parameters of a list endpoint: subclasses add their filters; paging is shared."""

    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=Pagination.max_page_size)

    @classmethod
    def filters(cls, request) -> dict:
        """The validated filters of the request (a 400 naming the bad one), paging left out."""
        serializer = cls(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return {k: v for k, v in serializer.validated_data.items() if k not in ("page", "page_size")}


def paginated_response(request, view, queryset, serializer_class):
    """One page of the queryset, serialised, with count and next/previous links, by the view's
    `pagination_class` (which the schema describes as the list's envelope)."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class IsMember(permissions.BasePermission):
    """Signed in and a member of a tenant: every API view's default (HasRole narrows it to roles)."""

    message = "Your account acts in no tenant; ask an admin to add you to one, or name the tenant when you sign in."

    def has_permission(self, request, view):
        # Anonymous: False, and DRF answers 401 (the authenticator says how to log in).
        return active_membership(request.user) is not None


class HasRole(permissions.BasePermission):
    """Requires a membership with one of `roles`; subclass with the roles a view needs."""

    roles: tuple[str, ...] = ()
    message = "Your role in this tenant does not allow this."

    def has_permission(self, request, view):
        # Anonymous: False, and DRF answers 401 (the authenticator says how to log in).
        membership = active_membership(request.user)
        return membership is not None and membership.role in self.roles


class IsApprover(HasRole):
    roles = Membership.DECIDING_ROLES
    message = "Only approvers and admins may do this."


class IsTenantAdmin(HasRole):
    roles = (Membership.Role.ADMIN,)
    message = "Only tenant admins may do this."


class IsPerson(permissions.BasePermission):
    """A person's request, not an API key's: keys and members are managed by people."""

    message = "API keys cannot manage API keys or members; sign in as a person."

    def has_permission(self, request, view):
        # Anonymous: True here, and the next permission answers 401.
        return getattr(request.user, "api_key", None) is None
