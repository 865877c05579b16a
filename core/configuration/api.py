"""/api/config: the tenant's configuration documents. Reading is for every member (admins only for a document
that says so), changing for tenant admins; every change is a version with a reason."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.configuration import selectors, services
from core.configuration.registry import document as document_named
from core.configuration.registry import documents
from core.errors import Forbidden
from core.models import Membership
from core.schema import error_response
from core.selectors import membership_for_user
from core.serializers import IsTenantAdmin, ListFilterSerializer, Pagination, StrictSerializer, paginated_response


def _document_parameter() -> OpenApiParameter:
    return OpenApiParameter("document", OpenApiTypes.STR, OpenApiParameter.PATH,
                            enum=[declared.name for declared in documents()],
                            description="A configuration document (GET /api/config lists them).")


NOT_FOUND = {404: error_response("No such configuration document (`not_found`).")}


def _readable(request, name: str):
    """The document, if the caller may read it (NotFound for an unknown one, Forbidden for an admins' one)."""
    declared = document_named(name)
    membership = membership_for_user(request.user)
    if declared.admins_only and membership.role != Membership.Role.ADMIN:
        raise Forbidden("Only tenant admins may read this configuration document.")
    return declared, membership.tenant_id


@extend_schema_serializer(component_name="ConfigDocument")
class DocumentOutputSerializer(serializers.Serializer):
    document = serializers.CharField()
    title = serializers.CharField()
    version = serializers.IntegerField(help_text="0: never set; the deployment's defaults are in force.")
    content = serializers.JSONField(help_text="What the tenant set.")
    effective = serializers.JSONField(help_text="What is in force: the deployment's defaults with `content` over them.")
    schema = serializers.JSONField(help_text="The JSON Schema (Draft 2020-12) `content` must satisfy.")
    updated_at = serializers.DateTimeField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


def document_answer(tenant_id: int, name: str) -> dict:
    declared = document_named(name)
    latest = selectors.config_latest(tenant_id=tenant_id, document=name)
    effective, version = selectors.config_current(tenant_id=tenant_id, document=name)
    return {"document": name, "title": declared.title or name, "version": version,
            "content": latest.content if latest else {}, "effective": effective, "schema": declared.schema,
            "updated_at": latest.created_at if latest else None,
            "author": latest.author.get_username() if latest and latest.author else None,
            "reason": latest.reason if latest else ""}


class ConfigListApi(APIView):
    @extend_schema_serializer(component_name="ConfigOverview")
    class OutputSerializer(serializers.Serializer):
        document = serializers.CharField()
        title = serializers.CharField()
        description = serializers.CharField(allow_blank=True)
        version = serializers.IntegerField()
        updated_at = serializers.DateTimeField(allow_null=True)
        author = serializers.CharField(allow_null=True)

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        tenant_id = membership_for_user(request.user).tenant_id
        return Response(self.OutputSerializer(selectors.config_overview(tenant_id=tenant_id), many=True).data)


class ConfigDocumentApi(APIView):
    def get_permissions(self):
        return [IsTenantAdmin()] if self.request.method == "PUT" else super().get_permissions()

    @extend_schema_serializer(component_name="ConfigDocumentInput")
    class InputSerializer(StrictSerializer):
        content = serializers.JSONField(help_text="The whole document as the tenant sets it; what it leaves out "
                                                  "keeps the deployment's default.")
        reason = serializers.CharField(max_length=500, help_text="Why: kept with the version and in the audit log.")

    @extend_schema(parameters=[_document_parameter()], responses={200: DocumentOutputSerializer, **NOT_FOUND})
    def get(self, request, document):
        _, tenant_id = _readable(request, document)
        return Response(DocumentOutputSerializer(document_answer(tenant_id, document)).data)

    @extend_schema(parameters=[_document_parameter()], request=InputSerializer,
                   responses={200: DocumentOutputSerializer, **NOT_FOUND})
    def put(self, request, document):
        document_named(document)  # an unknown document is a 404 before its body is judged
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant_id = membership_for_user(request.user).tenant_id
        services.config_update(tenant_id=tenant_id, document=document, user=request.user,
                               correlation_id=request.correlation_id, **payload.validated_data)
        return Response(DocumentOutputSerializer(document_answer(tenant_id, document)).data)


@extend_schema_serializer(component_name="ConfigVersion")
class VersionOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    content = serializers.JSONField()
    diff = serializers.JSONField(help_text='{path: {"from", "to"}}: what changed in force against the version before.')
    author = serializers.CharField(source="author.username", default=None, allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class ConfigVersionsApi(APIView):
    pagination_class = Pagination

    @extend_schema(parameters=[_document_parameter(), ListFilterSerializer],
                   responses={200: VersionOutputSerializer(many=True), **NOT_FOUND})
    def get(self, request, document):
        ListFilterSerializer.filters(request)  # paging only: a 400 for a bad page or an unknown parameter
        _, tenant_id = _readable(request, document)
        return paginated_response(request, self, selectors.config_versions(tenant_id=tenant_id, document=document),
                                  VersionOutputSerializer)


class ConfigRollbackApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema_serializer(component_name="ConfigRollbackInput")
    class InputSerializer(StrictSerializer):
        version = serializers.IntegerField(min_value=0, max_value=2**31 - 1,
                                           help_text="The version to return to; 0: the deployment's defaults.")
        reason = serializers.CharField(max_length=500)

    @extend_schema(parameters=[_document_parameter()], request=InputSerializer,
                   responses={200: DocumentOutputSerializer, **NOT_FOUND})
    def post(self, request, document):
        document_named(document)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant_id = membership_for_user(request.user).tenant_id
        services.config_rollback(tenant_id=tenant_id, document=document, user=request.user,
                                 correlation_id=request.correlation_id, **payload.validated_data)
        return Response(DocumentOutputSerializer(document_answer(tenant_id, document)).data)


@extend_schema_serializer(component_name="ConfigExport")
class ExportSerializer(serializers.Serializer):
    format = serializers.CharField()
    tenant = serializers.CharField()
    exported_at = serializers.DateTimeField()
    documents = serializers.JSONField(help_text='{name: {"version", "content"}}: what POST /api/config/import takes.')


class ConfigExportApi(APIView):
    @extend_schema(parameters=[_document_parameter()], responses={200: ExportSerializer, **NOT_FOUND})
    def get(self, request, document):
        _, tenant_id = _readable(request, document)
        exported = selectors.config_export(tenant_id=tenant_id, names=[document])
        response = Response(exported)
        response["Content-Disposition"] = f'attachment; filename="{exported["tenant"]}-{document}.json"'
        return response


class ConfigImportApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema_serializer(component_name="ConfigImportInput")
    class InputSerializer(StrictSerializer):
        documents = serializers.JSONField(help_text='{name: {"content": {...}}}: one or several documents, as '
                                                    "GET /api/config/{document}/export gives them.")
        reason = serializers.CharField(max_length=500)
        # What an export carries besides: accepted and ignored, so an export file can be sent back as it is.
        format = serializers.CharField(required=False, max_length=50)
        tenant = serializers.CharField(required=False, max_length=63)
        exported_at = serializers.CharField(required=False, max_length=64)

    @extend_schema_serializer(component_name="ConfigImportOutput")
    class OutputSerializer(serializers.Serializer):
        documents = serializers.JSONField(help_text='{name: {"version", "changed"}}')

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant_id = membership_for_user(request.user).tenant_id
        with transaction.atomic():
            outcome = services.config_import(tenant_id=tenant_id, documents=payload.validated_data["documents"],
                                             user=request.user, reason=payload.validated_data["reason"],
                                             correlation_id=request.correlation_id)
        return Response({"documents": outcome})
