"""The task API: submit, list, read, cancel, follow a run's events, the task types on offer, and the
callback signing secret."""

from decimal import Decimal

from django.http import StreamingHttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import (OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field,
                                   extend_schema_serializer, inline_serializer)
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Invalid, NotFound
from core.schema import error_response
from core.serializers import (IsTenantAdmin, ListFilterSerializer, NoInput, Pagination, StrictSerializer,
                              paginated_response)
from emma import callbacks, events, registry, services
from emma.models import AgentRunStep, AgentTask, CallbackAttempt, TaskEvent
from emma.selectors import tasks_for_user

# --- agent tasks --------------------------------------------------------------------------------


class TaskOutputSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(source="id")
    submitter = serializers.CharField(source="submitter.username")
    escalation_id = serializers.UUIDField(read_only=True, allow_null=True)  # annotated by tasks_for_user

    class Meta:
        model = AgentTask
        fields = ["task_id", "task_type", "description", "parameters", "priority", "risk", "estimated_cost",
                  "actual_cost", "status", "decision", "decision_reasons", "policy_version", "correlation_id",
                  "idempotency_key", "submitter", "channel", "result", "error", "attempts", "cancel_requested",
                  "created_at", "queued_at", "started_at", "finished_at", "escalation_id", "callback_url"]


class TaskEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskEvent
        fields = ["from_status", "to_status", "actor", "note", "created_at"]


class AgentRunStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentRunStep
        fields = ["seq", "kind", "turn", "text", "model", "input_tokens", "output_tokens", "cached_tokens", "cost",
                  "tool_call_id", "tool", "requested_arguments", "arguments", "status", "decision",
                  "decision_reasons", "escalation_id", "content", "created_at", "finished_at"]


class CallbackAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackAttempt
        fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]


class CallbackSerializer(serializers.Serializer):
    """The task's completion callback: `waiting` until the task finishes, then its delivery's status
    (pending, sending, delivered, dead) and every attempt."""

    webhook_id = serializers.UUIDField(allow_null=True)
    url = serializers.CharField()
    status = serializers.CharField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    attempts = CallbackAttemptSerializer(many=True)

    @classmethod
    def of(cls, task: AgentTask) -> dict | None:
        if not task.callback_url:
            return None
        delivery = getattr(task, "callback", None)
        if delivery is None:
            return cls({"webhook_id": None, "url": task.callback_url, "status": "waiting", "next_attempt_at": None,
                        "delivered_at": None, "attempts": []}).data
        return cls({"webhook_id": delivery.pk, "url": delivery.url, "status": delivery.status,
                    "next_attempt_at": delivery.next_attempt_at, "delivered_at": delivery.delivered_at,
                    "attempts": delivery.attempts.all()}).data


class TaskDetailSerializer(TaskOutputSerializer):
    events = TaskEventSerializer(many=True, read_only=True)
    steps = AgentRunStepSerializer(many=True, read_only=True)  # an agent run's transcript; empty otherwise
    callback = serializers.SerializerMethodField()

    class Meta(TaskOutputSerializer.Meta):
        fields = TaskOutputSerializer.Meta.fields + ["events", "steps", "callback"]

    @extend_schema_field(CallbackSerializer(allow_null=True))
    def get_callback(self, task) -> dict | None:
        return CallbackSerializer.of(task)


@extend_schema_field({"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+",
                      "maxLength": callbacks.MAX_URL_LENGTH,
                      "description": "Where the task's outcome is POSTed once it is final: http or https, no "
                                     "credentials, a host that resolves to public addresses only."})
class CallbackUrlField(serializers.CharField):
    pass


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER, required=False,
    description="The same key with the same body answers with the first submission's task (200); with another "
                "body, 409. At most 255 printable characters (printable ASCII is safe in any HTTP client).")


def submitted_fields(result: services.SubmitResult) -> dict:
    """What a submission answers about its task (one, or each of a batch)."""
    task = result.task
    return {"task_id": task.pk, "status": task.status, "decision": task.decision,
            "decision_reasons": task.decision_reasons, "correlation_id": task.correlation_id,
            "escalation_id": result.escalation_id}


class TaskListCreateApi(APIView):
    pagination_class = Pagination

    @extend_schema_serializer(component_name="TaskSubmitInput")
    class InputSerializer(StrictSerializer):
        task_type = serializers.CharField(max_length=100)
        description = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")
        parameters = serializers.JSONField(required=False, default=dict)
        priority = serializers.IntegerField(min_value=1, max_value=10, required=False, default=5)
        estimated_cost = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=Decimal("0"),
                                                  required=False, allow_null=True, default=None)
        # Checked by the service (scheme, length, the addresses it resolves to); README "Completion callbacks".
        callback_url = CallbackUrlField(max_length=callbacks.MAX_URL_LENGTH, required=False, allow_null=True,
                                        default=None)

        def validate_parameters(self, value):
            if not isinstance(value, dict):
                raise serializers.ValidationError("Expected a JSON object.")
            return value

    class SubmitOutputSerializer(serializers.Serializer):
        task_id = serializers.UUIDField()
        status = serializers.CharField()
        decision = serializers.CharField()
        decision_reasons = serializers.ListField(child=serializers.CharField())
        correlation_id = serializers.CharField()
        escalation_id = serializers.UUIDField(allow_null=True)

    class FilterSerializer(ListFilterSerializer):
        status = serializers.ChoiceField(choices=AgentTask.Status.choices, required=False)
        task_type = serializers.CharField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=TaskOutputSerializer(many=True))
    def get(self, request):
        tasks = tasks_for_user(request.user, **self.FilterSerializer.filters(request))
        return paginated_response(request, self, tasks, TaskOutputSerializer)

    @extend_schema(request=InputSerializer, parameters=[IDEMPOTENCY_KEY], responses={
        202: SubmitOutputSerializer, 200: SubmitOutputSerializer,
        409: error_response("The Idempotency-Key was used before with another body (`conflict`).")})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 255 or not key.isprintable()):
            raise Invalid(details={"Idempotency-Key": ["At most 255 printable characters."]})
        submitted = services.task_submit(user=request.user, idempotency_key=key,
                                         correlation_id=request.correlation_id, **payload.validated_data)
        return Response(self.SubmitOutputSerializer(submitted_fields(submitted)).data,
                        status=202 if submitted.created else 200)


class TaskBatchApi(APIView):
    """Up to 100 tasks in one request and one transaction, each decided, audited and (when allowed)
    queued on its own; `idempotency_key` per task. One invalid task rejects the batch: the error names
    it (`tasks[3].parameters`) and nothing is recorded. 202 when any task is new, 200 when every one
    repeats an earlier submission."""

    @extend_schema_serializer(component_name="TaskBatchItemInput")
    class ItemSerializer(TaskListCreateApi.InputSerializer):
        idempotency_key = serializers.CharField(max_length=255, required=False, allow_null=True, default=None)

        def validate_idempotency_key(self, value):
            if value is not None and not value.isprintable():
                raise serializers.ValidationError("At most 255 printable characters.")
            return value

    @extend_schema_serializer(component_name="TaskBatchInput")
    class InputSerializer(StrictSerializer):
        tasks = serializers.ListField(min_length=1, max_length=services.MAX_BATCH)

    @extend_schema_serializer(component_name="TaskBatchItemOutput")
    class ItemOutputSerializer(TaskListCreateApi.SubmitOutputSerializer):
        index = serializers.IntegerField()
        created = serializers.BooleanField()

    BATCH_OUTPUT = inline_serializer("TaskBatchResponse", {"tasks": ItemOutputSerializer(many=True)})

    @extend_schema(request=inline_serializer("TaskBatchRequest", {
                       "tasks": ItemSerializer(many=True, min_length=1, max_length=services.MAX_BATCH)}),
                   responses={202: BATCH_OUTPUT, 200: BATCH_OUTPUT,
                              409: error_response("A task's idempotency_key was used before with another body.")})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        items, errors = [], {}
        for index, item in enumerate(payload.validated_data["tasks"]):
            checked = self.ItemSerializer(data=item)
            if checked.is_valid():
                items.append(checked.validated_data)
            else:
                errors[index] = checked.errors
        if errors:
            raise services.batch_invalid(errors)
        submitted = services.tasks_submit(user=request.user, requests=items, correlation_id=request.correlation_id)
        body = {"tasks": [self.ItemOutputSerializer({**submitted_fields(result), "index": index,
                                                     "created": result.created}).data
                          for index, result in enumerate(submitted)]}
        return Response(body, status=202 if any(result.created for result in submitted) else 200)
class TaskSubmitSchema(OpenApiSerializerExtension):
    """A submission's body in the schema: one shape per task type on offer in this deployment, its
    `task_type` the type's name and its `parameters` the type's own JSON Schema (as the service checks
    them; GET /api/task-types lists the same)."""

    target_class = TaskListCreateApi.InputSerializer
    priority = 1  # before core.schema's, which every StrictSerializer matches

    def map_serializer(self, auto_schema, direction):
        common = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        shapes = []
        for spec in registry.all_types():
            if spec.unavailable_reason() or spec.submitted_through:
                continue
            required = bool(spec.schema.get("required"))  # then `parameters` may not be left out either
            parameters = spec.schema if required else {**spec.schema, "default": {}}
            shapes.append({"type": "object", "title": spec.name, "description": spec.description,
                           "properties": {**common["properties"], "task_type": {"const": spec.name},
                                          "parameters": parameters},
                           "required": [*common["required"], *(["parameters"] if required else [])],
                           "additionalProperties": False})
        return {"oneOf": shapes}


class TaskBatchItemSchema(TaskSubmitSchema):
    """Each task of a batch in the schema: a submission's shapes, with its own idempotency_key."""

    target_class = TaskBatchApi.ItemSerializer


class TaskDetailApi(APIView):
    @extend_schema(responses=TaskDetailSerializer)
    def get(self, request, task_id):
        task = (tasks_for_user(request.user).select_related("callback")
                .prefetch_related("events", "steps", "callback__attempts").filter(pk=task_id).first())
        if task is None:
            raise NotFound("No such task.")
        return Response(TaskDetailSerializer(task).data)


class TaskEventsApi(APIView):
    """The task's run as Server-Sent Events (`text/event-stream`), from the rows PostgreSQL holds:
    `status` (each status change), `model` (a model turn: text, tokens, cost), `tool_call` (tool,
    arguments, decision, status), `tool_result` (its content, once recorded), `awaiting_approval` (the
    tool call the run paused on, with its escalation_id), `resumed`, and `finished` (the final status,
    result, error and cost; then the stream ends). Each `data:` is one JSON object.

    Every event has an `id:` of the form `<microseconds since the epoch>-<source><pk>-<sub>` (source `s`
    a step recorded, `r` a tool step's result at its finished_at, `e` a status change; sub 1 the event
    derived from a status change), increasing as the tuple (microseconds, s < r < e, pk, sub). Send the last
    one back as `Last-Event-ID` (or `?last_event_id=`) to get exactly what came after it; an id that is
    malformed or names nothing of this task is a 400. The view polls every 0.5 s, sends `: keep-alive`
    every 15 s, and ends after 5 minutes (reconnect with the last id). Rules: emma.events."""

    class FilterSerializer(serializers.Serializer):  # not strict: EventSource polyfills add their own parameters
        last_event_id = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def perform_content_negotiation(self, request, force=False):
        # The stream is written by hand; errors (401, 404, 400) are JSON whatever the client accepts.
        return JSONRenderer(), JSONRenderer.media_type

    EVENT_ID = {"type": "string", "maxLength": 100, "pattern": f"^{events.CURSOR.pattern}$",
                "description": "The `id:` of an event this stream sent: what came after it follows. One naming "
                               "no event of this task is a 400."}

    # One event of the stream (as OpenAPI 3.2's `itemSchema` would say it; Schemathesis reads it so).
    EVENT = {"type": "object", "required": ["event", "id", "data"], "properties": {
        "event": {"enum": ["status", "model", "tool_call", "tool_result", "awaiting_approval", "resumed",
                           "finished"]},
        "id": {"type": "string", "pattern": f"^{events.CURSOR.pattern}$"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
        "retry": {"type": "integer", "minimum": 0}}}

    @extend_schema(parameters=[OpenApiParameter("last_event_id", EVENT_ID, OpenApiParameter.QUERY),
                               OpenApiParameter("Last-Event-ID", EVENT_ID, OpenApiParameter.HEADER)],
                   responses={(200, "text/event-stream"): OpenApiResponse(EVENT, description="The events, as "
                                                                                             "they happen.")})
    def get(self, request, task_id):
        task = tasks_for_user(request.user).filter(pk=task_id).first()
        if task is None:
            raise NotFound("No such task.")
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        last_event_id = request.headers.get("Last-Event-ID") or query.validated_data.get("last_event_id")
        after = events.cursor_parse(task_id=task.pk, last_event_id=last_event_id)
        response = StreamingHttpResponse(events.stream(task, after), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a buffering proxy (nginx) would hold events back
        return response


class TaskCancelApi(APIView):
    @extend_schema(request=None, responses={
        200: OpenApiResponse(TaskOutputSerializer, description="Cancelled."),
        202: OpenApiResponse(TaskOutputSerializer, description="Running: cancellation is requested, and the task "
                                                               "stops at its next check."),
        409: error_response("The task is finished already (`conflict`).")})
    def post(self, request, task_id):
        NoInput.check(request)
        services.task_cancel(user=request.user, task_id=task_id, correlation_id=request.correlation_id)
        task = tasks_for_user(request.user).get(pk=task_id)
        return Response(TaskOutputSerializer(task).data, status=202 if task.status == "running" else 200)


class CallbackSecretApi(APIView):
    """A new signing secret for the tenant's completion callbacks, shown this once; the previous one
    keeps signing beside it for 24 hours. Tenant admins only."""

    permission_classes = [IsTenantAdmin]

    class SecretOutputSerializer(serializers.Serializer):
        secret = serializers.CharField()
        created_at = serializers.DateTimeField()
        previous_signs_until = serializers.DateTimeField(allow_null=True)

    @extend_schema(request=None, responses={201: SecretOutputSerializer})
    def post(self, request):
        NoInput.check(request)
        rotated = callbacks.callback_secret_rotate(user=request.user, correlation_id=request.correlation_id)
        return Response(self.SecretOutputSerializer(rotated).data, status=201,
                        headers={"Cache-Control": "no-store"})


class TaskTypesApi(APIView):
    @extend_schema_serializer(component_name="TaskTypeOutput")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        description = serializers.CharField()
        risk = serializers.CharField()
        external_side_effects = serializers.BooleanField()
        default_cost = serializers.DecimalField(max_digits=12, decimal_places=4)
        time_limit = serializers.IntegerField()
        max_attempts = serializers.IntegerField()
        parameters_schema = serializers.JSONField()
        tool = serializers.BooleanField()  # also offered to agents as a tool
        available = serializers.BooleanField()
        unavailable_reason = serializers.CharField(allow_null=True)
        submitted_through = serializers.CharField(
            allow_null=True, help_text="Where a type only its own app submits is asked for (POST /api/tasks refuses "
                                       "it); null: through POST /api/tasks.")

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        types = []
        for spec in registry.all_types():
            risk, external = spec.current_risk()
            missing = spec.unavailable_reason()
            types.append({"name": spec.name, "description": spec.description, "risk": risk,
                          "external_side_effects": external, "default_cost": spec.default_cost,
                          "time_limit": spec.time_limit, "max_attempts": spec.max_attempts,
                          "parameters_schema": spec.schema, "tool": spec.as_tool, "available": not missing,
                          "unavailable_reason": f"{missing} is not set" if missing else None,
                          "submitted_through": spec.submitted_through or None})
        return Response(self.OutputSerializer(types, many=True).data)
