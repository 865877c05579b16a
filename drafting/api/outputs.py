"""A draft's revision as a file (Markdown, HTML, JSON, DOCX), and its analysis against the tenant's style guide."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.schema import error_response
from core.serializers import StrictSerializer
from drafting import analysis, configuration, exports, selectors
from drafting.api.common import max_body_bytes
from drafting.models import DocumentType
from drafting.services import content_check

RENDERED = ("html", "docx")


class ExportTooLarge(ApplicationError):
    status, code = 422, "export_too_large"
    default_message = "The revision is larger than an HTML or DOCX export may be."


class DraftExportApi(APIView):
    """One revision (default: the current one) as a download: `markdown` (the content as written), `html` (a
    sanitised HTML5 page), `json` (the draft's details, the revision and the history up to it) or `docx`.
    The same revision exports to the same bytes every time, as long as the draft's details (title, tags...)
    are unchanged. HTML and DOCX are rendered only up to DRAFT_EXPORT_RENDER_MAX_BYTES of content (larger:
    422 `export_too_large`; Markdown and JSON export any size)."""

    class FilterSerializer(StrictSerializer):
        format = serializers.ChoiceField(choices=exports.FORMATS, required=False, default="markdown")
        revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)

    def perform_content_negotiation(self, request, force=False):
        # `format` names the export, not one of DRF's renderers (its URL_FORMAT_OVERRIDE); errors are JSON.
        return JSONRenderer(), JSONRenderer.media_type

    FILE = {"description": "The revision as a file; Content-Disposition: attachment; filename=\"<slug>-r<n>.<ext>\""}

    @extend_schema(parameters=[FilterSerializer], responses={
        (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, **FILE),
        (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, **FILE),
        (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, **FILE),
        (200, exports.CONTENT_TYPES["docx"]): OpenApiResponse(OpenApiTypes.BINARY, **FILE),
        422: error_response("HTML or DOCX of a revision over DRAFT_EXPORT_RENDER_MAX_BYTES (`export_too_large`, "
                            "`details.max_bytes`).")})
    def get(self, request, draft_id):
        query = self.FilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        draft, _ = selectors.draft_for(request.user, draft_id)
        revision = selectors.revision_of(draft, query.validated_data.get("revision") or draft.revision)
        limit = settings.DRAFT_EXPORT_RENDER_MAX_BYTES
        if fmt in RENDERED and len(revision.content.encode("utf-8", "replace")) > limit:
            raise ExportTooLarge(f"Revision {revision.number} is larger than {limit} bytes, the most exported as "
                                 f"{fmt.upper()}: export it as Markdown or JSON.",
                                 details={"max_bytes": limit, "format": fmt})
        details, revision_data, history = selectors.export_inputs(draft, revision)
        exported = exports.export(fmt, draft=details, revision=revision_data, history=history)
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["Content-Length"] = str(len(exported.content))
        response["X-Content-Type-Options"] = "nosniff"
        return response


@extend_schema_serializer(component_name="DraftFinding")
class FindingSerializer(serializers.Serializer):
    rule = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    start = serializers.IntegerField(help_text="Offset in the content: content[start:end] is what was found.")
    end = serializers.IntegerField()
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    excerpt = serializers.CharField(allow_blank=True)
    suggestion = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="DraftAnalysis")
class AnalysisSerializer(serializers.Serializer):
    revision = serializers.IntegerField(allow_null=True, help_text="The revision analysed; null for unsaved content.")
    document_type = serializers.CharField()
    words = serializers.IntegerField()
    sentences = serializers.IntegerField()
    characters = serializers.IntegerField()
    reading_time_seconds = serializers.IntegerField()
    words_per_minute = serializers.IntegerField()
    readability = serializers.DictField(help_text="textstat's scores (null each for a text without words).")
    findings = FindingSerializer(many=True)
    truncated = serializers.BooleanField(help_text="Only the first analysed_characters were analysed.")
    analysed_characters = serializers.IntegerField()
    total_characters = serializers.IntegerField()
    style_guide_errors = serializers.ListField(child=serializers.CharField())


def _analysed(draft, content: str, *, revision: int | None, doc_type: str | None = None) -> dict:
    result = analysis.analyse(content, document_type=doc_type or draft.doc_type,
                              style_guide=configuration.style_guide(draft.tenant_id))
    return AnalysisSerializer({"revision": revision, **result}).data


class DraftAnalysisApi(APIView):
    """Counts, readability and the findings of the tenant's style guide (`style_guide` of its `drafting`
    configuration) for a revision (GET, default the current one), or for unsaved `content` (POST: an editor's
    buffer, analysed and not stored). Anyone who may read the draft. Only the first 100,000 characters are
    analysed (`truncated`)."""

    max_payload_bytes = staticmethod(max_body_bytes)

    class FilterSerializer(StrictSerializer):
        revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)

    @extend_schema_serializer(component_name="DraftAnalysisInput")
    class InputSerializer(StrictSerializer):
        content = serializers.CharField(allow_blank=True, trim_whitespace=False)
        doc_type = serializers.ChoiceField(choices=DocumentType.choices, required=False,
                                           help_text="Default: the draft's.")

    @extend_schema(parameters=[FilterSerializer], responses=AnalysisSerializer)
    def get(self, request, draft_id):
        query = self.FilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        draft, _ = selectors.draft_for(request.user, draft_id)
        revision = selectors.revision_of(draft, query.validated_data.get("revision") or draft.revision)
        return Response(_analysed(draft, revision.content, revision=revision.number))

    @extend_schema(request=InputSerializer, responses={
        200: AnalysisSerializer, 413: error_response("The content is over DRAFT_MAX_CONTENT_BYTES.")})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        content_check(payload.validated_data["content"])
        draft, _ = selectors.draft_for(request.user, draft_id)
        return Response(_analysed(draft, payload.validated_data["content"], revision=None,
                                  doc_type=payload.validated_data.get("doc_type")))
