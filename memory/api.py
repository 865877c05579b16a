"""Thin views over memory: semantic items and search, bulk jobs, episodes, working memory.

Every view works in the caller's tenant (`membership_for_user`); another tenant's item is a 404."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from core.parsers import StrictJSONParser, unstorable
from core.schema import error_response
from core.selectors import membership_for_user
from core.serializers import ListFilterSerializer, Pagination, StrictSerializer, paginated_response
from memory import quota, selectors, services, working
from memory.models import EMBEDDING_DIMENSIONS, EpisodicEvent, MemoryBulkJob, MemoryItem
from memory.selectors import MAX_LIMIT
from memory.services import FLOAT32_MAX, MAX_BULK_ITEMS, MAX_CONTENT_CHARS, MAX_SOURCE_CHARS


def _tenant_id(request):
    return membership_for_user(request.user).tenant_id


@extend_schema_field({"type": "object"})
class MetadataField(serializers.JSONField):
    """A JSON object that PostgreSQL's jsonb can hold: a query string's JSON (`?metadata=`) passes no
    body parser, and may carry what jsonb cannot store."""

    def to_internal_value(self, data):
        try:
            value = super().to_internal_value(data)
        except RecursionError:  # a query string's JSON is parsed here, not by the request's parser
            raise serializers.ValidationError("Nested too deeply.")
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        refusal = unstorable(value)
        if refusal:
            raise serializers.ValidationError(refusal)
        return value


class ItemInputSerializer(StrictSerializer):
    content = serializers.CharField(max_length=MAX_CONTENT_CHARS)
    source = serializers.CharField(max_length=MAX_SOURCE_CHARS, required=False, default="api")
    metadata = MetadataField(required=False, default=dict)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class StoredOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.BooleanField()


class ItemOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MemoryItem
        fields = ["id", "content", "source", "metadata", "content_hash", "expires_at", "task_id", "escalation_id",
                  "created_at", "updated_at"]


class MemoryStoreApi(APIView):
    """POST /api/memory/store: embed and store; 201 for a new item, 200 when the content was known."""

    @extend_schema(request=ItemInputSerializer, responses={201: StoredOutputSerializer, 200: StoredOutputSerializer})
    def post(self, request):
        payload = ItemInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        stored = services.memory_store(tenant_id=_tenant_id(request), created_by_id=request.user.pk,
                                       **payload.validated_data)
        return Response(StoredOutputSerializer(stored).data, status=201 if stored.created else 200)


class LenientFloatsJSONParser(StrictJSONParser):
    """Lets NaN and Infinity through the JSON parser so the embedding check can name what it expects."""

    strict = False


@extend_schema_field({"type": "array", "minItems": EMBEDDING_DIMENSIONS, "maxItems": EMBEDDING_DIMENSIONS,
                     "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
                     "contains": {"not": {"const": 0}}, "description": "Finite float32 numbers, not all zero."})
class EmbeddingField(serializers.Field):
    """Passed through as parsed, NaN included: the service checks it, and its error names the dimension."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class MemoryEmbeddingsApi(APIView):
    """POST /api/memory/embeddings: store content with a vector the client computed."""

    parser_classes = [LenientFloatsJSONParser]

    @extend_schema_serializer(component_name="MemoryEmbeddingInput")
    class InputSerializer(ItemInputSerializer):
        embedding = EmbeddingField()

    @extend_schema(request=InputSerializer, responses={201: StoredOutputSerializer, 200: StoredOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        stored = services.memory_store(tenant_id=_tenant_id(request), created_by_id=request.user.pk,
                                       **payload.validated_data)
        return Response(StoredOutputSerializer(stored).data, status=201 if stored.created else 200)


@extend_schema_serializer(component_name="MemorySearchHit")
class SearchHitSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    content = serializers.CharField()
    source = serializers.CharField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    task_id = serializers.UUIDField(allow_null=True)
    score = serializers.FloatField(help_text="Reciprocal rank fusion of the vector and text ranks.")
    vector_score = serializers.FloatField(allow_null=True, help_text="Cosine similarity to the query.")
    vector_rank = serializers.IntegerField(allow_null=True)
    text_score = serializers.FloatField(allow_null=True, help_text="PostgreSQL ts_rank_cd.")
    text_rank = serializers.IntegerField(allow_null=True)


class MemorySearchApi(APIView):
    """GET /api/memory/search: hybrid search; filter on metadata with `metadata={"k": "v"}` (JSON
    containment) or `metadata__k=v` (a string value), and on time with `since` / `until`."""

    class FilterSerializer(StrictSerializer):
        query = serializers.CharField(max_length=2000)
        limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=10)
        source = serializers.CharField(max_length=MAX_SOURCE_CHARS, required=False)
        metadata = MetadataField(required=False, binary=True)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

        def to_internal_value(self, data):
            data = dict(data)
            keyed = {key[len("metadata__"):]: data.pop(key) for key in list(data) if key.startswith("metadata__")}
            values = super().to_internal_value(data)
            if keyed:
                if any(not key for key in keyed):
                    raise serializers.ValidationError({"metadata__": ["Name a metadata key: metadata__<key>=value."]})
                try:
                    values["metadata"] = MetadataField().to_internal_value({**values.get("metadata", {}), **keyed})
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({"metadata": exc.detail})
            return values

    @extend_schema_serializer(component_name="MemorySearchResults")
    class OutputSerializer(serializers.Serializer):
        query = serializers.CharField()
        count = serializers.IntegerField()
        results = SearchHitSerializer(many=True)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        over = quota.search_take(_tenant_id(request))
        if over is not None:
            raise Throttled(wait=over[1], detail=f"Today's cap of {over[0]} memory searches for this tenant is reached "
                                                 "(daily_caps.memory_searches of its integrations configuration).")
        hits = selectors.memory_search(tenant_id=_tenant_id(request), **filters.validated_data)
        return Response(self.OutputSerializer({"query": filters.validated_data["query"], "count": len(hits),
                                               "results": hits}).data)


class MemoryItemApi(APIView):
    """GET|DELETE /api/memory/{id}: one live item of the caller's tenant."""

    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request, item_id):
        return Response(ItemOutputSerializer(selectors.memory_get(tenant_id=_tenant_id(request), item_id=item_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, item_id):
        services.memory_delete(tenant_id=_tenant_id(request), item_id=item_id)
        return Response(status=204)


# --- bulk ---------------------------------------------------------------------------------------


class BulkJobOutputSerializer(serializers.ModelSerializer):
    job_id = serializers.UUIDField(source="id")
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = MemoryBulkJob
        fields = ["job_id", "status", "total", "done", "item_ids", "error", "created_at", "started_at", "finished_at",
                  "status_url"]

    def get_status_url(self, job) -> str:
        return self.context["request"].build_absolute_uri(reverse("memory-bulk-job", args=[job.pk]))


class MemoryBulkApi(APIView):
    """POST /api/memory/bulk: queue many items for a worker; 202 with the job and where to watch it."""

    @extend_schema_serializer(component_name="MemoryBulkInput")
    class InputSerializer(StrictSerializer):
        items = ItemInputSerializer(many=True, allow_empty=False, max_length=MAX_BULK_ITEMS)

    @extend_schema(request=InputSerializer, responses={202: BulkJobOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = services.memory_bulk_start(tenant_id=_tenant_id(request), items=payload.validated_data["items"],
                                         created_by_id=request.user.pk)
        return Response(BulkJobOutputSerializer(job, context={"request": request}).data, status=202)


class MemoryBulkJobApi(APIView):
    """GET /api/memory/bulk/{job_id}: the job's progress, done of total."""

    @extend_schema(responses=BulkJobOutputSerializer)
    def get(self, request, job_id):
        job = selectors.bulk_job_get(tenant_id=_tenant_id(request), job_id=job_id)
        return Response(BulkJobOutputSerializer(job, context={"request": request}).data)


# --- episodic -----------------------------------------------------------------------------------


class EpisodeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EpisodicEvent
        fields = ["id", "kind", "source", "actor", "content", "metadata", "task_id", "occurred_at", "created_at"]


class EpisodesApi(APIView):
    """GET /api/memory/episodes: what happened, newest first, by time range, source, kind and task."""

    pagination_class = Pagination

    class FilterSerializer(ListFilterSerializer):
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        source = serializers.CharField(max_length=MAX_SOURCE_CHARS, required=False)
        kind = serializers.ChoiceField(choices=EpisodicEvent.Kind.choices, required=False)
        task_id = serializers.UUIDField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=EpisodeOutputSerializer(many=True))
    def get(self, request):
        events = selectors.episodes(tenant_id=_tenant_id(request), **self.FilterSerializer.filters(request))
        return paginated_response(request, self, events, EpisodeOutputSerializer)


# --- working memory -----------------------------------------------------------------------------


class WorkingMemoryApi(APIView):
    """GET|POST|DELETE /api/memory/working/{session_id}: the session's entries, oldest first."""

    SESSION = OpenApiParameter("session_id", {"type": "string", "pattern": working.SESSION_ID.pattern},
                               OpenApiParameter.PATH, description="Letters, digits and _ . : - (1 to 128), "
                                                                  "starting with a letter or digit.")
    ERRORS = {400: error_response("The session id is not 1 to 128 letters, digits and _ . : - "
                                  "(`validation_error`)."),
              503: error_response("Working memory (Redis) is unavailable; try again shortly (`unavailable`).")}

    @extend_schema_serializer(component_name="WorkingMemoryEntryInput")
    class InputSerializer(StrictSerializer):
        role = serializers.CharField(max_length=32, required=False, default="user")
        content = serializers.CharField(max_length=MAX_CONTENT_CHARS, trim_whitespace=False)
        metadata = MetadataField(required=False, default=dict)

    @extend_schema_serializer(component_name="WorkingMemorySession")
    class OutputSerializer(serializers.Serializer):
        session_id = serializers.CharField()
        entries = serializers.ListField(child=serializers.DictField())
        ttl_seconds = serializers.IntegerField()
        max_entries = serializers.IntegerField()

    @extend_schema(parameters=[SESSION], responses={200: OutputSerializer, **ERRORS})
    def get(self, request, session_id):
        return Response(working.working_get(tenant_id=_tenant_id(request), session_id=session_id))

    @extend_schema(parameters=[SESSION], request=InputSerializer, responses={201: OutputSerializer, **ERRORS})
    def post(self, request, session_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        state = working.working_append(tenant_id=_tenant_id(request), session_id=session_id,
                                       **payload.validated_data)
        return Response(state, status=201)

    @extend_schema(parameters=[SESSION], responses={204: None, **ERRORS})
    def delete(self, request, session_id):
        working.working_clear(tenant_id=_tenant_id(request), session_id=session_id)
        return Response(status=204)
