"""Templates: every member lists, reads, previews and starts drafts from them; tenant admins create and
change them (each change a new version)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import error_response
from core.serializers import ListFilterSerializer, Pagination, StrictSerializer, paginated_response
from drafting import selectors, templates
from drafting.models import DocumentType, Template, TemplateVersion

NAME_TAKEN = error_response("The tenant has a template of this name (`conflict`).")


@extend_schema_serializer(component_name="DraftTemplateVersion")
class VersionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    doc_type = serializers.ChoiceField(choices=DocumentType.choices)

    class Meta:
        model = TemplateVersion
        fields = ["number", "title", "doc_type", "body", "variables_schema", "author", "created_at"]


@extend_schema_serializer(component_name="DraftTemplate")
class TemplateSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    current = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["id", "name", "description", "version", "created_by", "created_at", "updated_at", "current"]

    def get_current(self, template) -> VersionSerializer:
        return VersionSerializer(selectors.template_version_of(template)).data


class SchemaField(serializers.DictField):
    """A JSON Schema (Draft 2020-12) object; checked by the service."""


class TemplatesApi(APIView):
    pagination_class = Pagination

    @extend_schema_serializer(component_name="DraftTemplateInput")
    class InputSerializer(StrictSerializer):
        name = serializers.CharField(max_length=100)
        description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        title = serializers.CharField(max_length=200, help_text="The title of a draft made from it.")
        doc_type = serializers.ChoiceField(choices=DocumentType.choices, required=False, default="free")
        body = serializers.CharField(max_length=200_000, trim_whitespace=False,
                                     help_text="Jinja2, rendered in a sandbox; undefined variables are errors.")
        variables_schema = SchemaField(required=False, default=dict)

    @extend_schema(parameters=[ListFilterSerializer], responses=TemplateSerializer(many=True))
    def get(self, request):
        ListFilterSerializer.filters(request)
        return paginated_response(request, self, selectors.templates_of(request.user), TemplateSerializer)

    @extend_schema(request=InputSerializer, responses={201: TemplateSerializer, 409: NAME_TAKEN})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        template = templates.template_create(user=request.user, **payload.validated_data)
        return Response(TemplateSerializer(template).data, status=201)


class TemplateDetailApi(APIView):
    @extend_schema_serializer(component_name="DraftTemplateUpdateInput")
    class InputSerializer(StrictSerializer):
        name = serializers.CharField(max_length=100, required=False)
        description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
        title = serializers.CharField(max_length=200, required=False)
        doc_type = serializers.ChoiceField(choices=DocumentType.choices, required=False)
        body = serializers.CharField(max_length=200_000, required=False, trim_whitespace=False)
        variables_schema = SchemaField(required=False)

    @extend_schema(responses=TemplateSerializer)
    def get(self, request, template_id):
        return Response(TemplateSerializer(selectors.template_for(request.user, template_id)).data)

    @extend_schema(request=InputSerializer, responses={200: TemplateSerializer, 409: NAME_TAKEN})
    def patch(self, request, template_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        template = templates.template_update(user=request.user, template_id=template_id, **payload.validated_data)
        return Response(TemplateSerializer(template).data)


class TemplateVersionsApi(APIView):
    pagination_class = Pagination

    @extend_schema(parameters=[ListFilterSerializer], responses=VersionSerializer(many=True))
    def get(self, request, template_id):
        ListFilterSerializer.filters(request)
        template = selectors.template_for(request.user, template_id)
        return paginated_response(request, self, template.versions.select_related("author").order_by("-number"),
                                  VersionSerializer)


class TemplatePreviewApi(APIView):
    """The template rendered with `variables` (checked against its schema: a 400 names each error); nothing
    is saved."""

    @extend_schema_serializer(component_name="DraftTemplatePreviewInput")
    class InputSerializer(StrictSerializer):
        variables = serializers.DictField(required=False, default=dict)
        version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                           default=None)

    @extend_schema_serializer(component_name="DraftTemplatePreview")
    class OutputSerializer(serializers.Serializer):
        template = serializers.IntegerField()
        version = serializers.IntegerField()
        title = serializers.CharField()
        doc_type = serializers.ChoiceField(choices=DocumentType.choices)
        content = serializers.CharField(allow_blank=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, template_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(self.OutputSerializer(templates.template_preview(
            user=request.user, template_id=template_id, **payload.validated_data)).data)
