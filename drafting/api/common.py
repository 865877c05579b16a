"""What the drafts API's views share: the draft's output shapes and the ETag header."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer
from rest_framework import serializers

from drafting.models import Collaborator, DocumentType, Draft

MAX_TAGS = 20


def max_body_bytes() -> int:
    """The largest body a draft's create or save takes (core.middleware.PayloadLimitMiddleware asks)."""
    return max(settings.MAX_PAYLOAD_BYTES, 2 * settings.DRAFT_MAX_CONTENT_BYTES)


ETAG = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200, 201],
    description="The current revision, exactly (`\"<number>.<saves>\"`): send it back as If-Match with the next save.")
IF_MATCH = OpenApiParameter(
    "If-Match", {"type": "string", "maxLength": 40}, OpenApiParameter.HEADER, required=True,
    description="The revision this save is based on: the ETag a read or save answered (`\"3.2\"`), or the "
                "revision's number (`3`). Without it, a 428.")


@extend_schema_serializer(component_name="DraftCollaborator")
class CollaboratorSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Collaborator.Role.choices)


class TagsField(serializers.ListField):
    child = serializers.CharField(max_length=50)

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_TAGS, **kwargs)


@extend_schema_serializer(component_name="Draft")
class DraftOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    etag = serializers.CharField()
    doc_type = serializers.ChoiceField(choices=DocumentType.choices)
    template_version = serializers.IntegerField(source="template_version_id", allow_null=True)

    class Meta:
        model = Draft
        fields = ["id", "title", "doc_type", "status", "status_note", "tags", "tone", "audience", "owner", "revision",
                  "etag", "template_version", "created_at", "touched_at", "submitted_at", "approved_at",
                  "published_at", "archived_at"]


@extend_schema_serializer(component_name="DraftAccess")
class AccessSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="owner, editor, commenter, viewer, admin, reviewer or reader")
    comment = serializers.BooleanField()
    edit = serializers.BooleanField()
    manage = serializers.BooleanField()
    submit = serializers.BooleanField()
    decide = serializers.BooleanField()


@extend_schema_serializer(component_name="DraftDetail")
class DraftDetailSerializer(DraftOutputSerializer):
    collaborators = serializers.SerializerMethodField()
    access = serializers.SerializerMethodField()

    class Meta(DraftOutputSerializer.Meta):
        fields = DraftOutputSerializer.Meta.fields + ["content", "collaborators", "access"]

    def get_collaborators(self, draft) -> CollaboratorSerializer(many=True):
        return CollaboratorSerializer([{"username": c.user.username, "role": c.role}
                                       for c in draft.collaborators.select_related("user")], many=True).data

    def get_access(self, draft) -> AccessSerializer:
        access = self.context.get("access")
        return AccessSerializer(access).data if access else None


def draft_body(draft, access) -> dict:
    return DraftDetailSerializer(draft, context={"access": access}).data
