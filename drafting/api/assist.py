"""Agent help with a draft (drafting.assist): asking for it, and the requests with their runs' status."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import error_response
from core.serializers import ListFilterSerializer, Pagination, StrictSerializer, paginated_response
from drafting import assist, selectors
from drafting.models import AssistRequest
from emma.models import AgentTask


@extend_schema_serializer(component_name="DraftSelection")
class SelectionSerializer(StrictSerializer):
    start = serializers.IntegerField(min_value=0, max_value=2**31 - 1, help_text="Offset of the first character.")
    end = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="Offset after the last character.")


@extend_schema_serializer(component_name="DraftAssist")
class AssistSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username", allow_null=True, default=None)
    selection = serializers.SerializerMethodField()
    task_status = serializers.ChoiceField(choices=AgentTask.Status.choices, allow_null=True, default=None,
                                          help_text="The agent.run task's status.")

    class Meta:
        model = AssistRequest
        fields = ["id", "task_id", "action", "instruction", "selection", "base_revision", "requester", "status",
                  "task_status", "revision", "merged", "result", "note", "created_at", "finished_at"]

    def get_selection(self, assist_request) -> SelectionSerializer(allow_null=True):
        if assist_request.selection_start is None:
            return None
        return {"start": assist_request.selection_start, "end": assist_request.selection_end}


class DraftAssistApi(APIView):
    """Ask an agent to write the draft from a `brief` (`action: draft`: the whole content) or to revise a
    `selection` of it as an `instruction` says (`action: revise`). The run is an `agent.run` task submitted
    as POST /api/tasks submits one, so the tenant's policy decides it: it runs, waits for an approver
    (`status: pending_approval`, `escalation_id`), or is denied (`decision: deny`, status `rejected`), and
    it is costed like any run. Its answer becomes a revision by the agent once the run succeeds (see GET
    .../assists). Only those who may edit the draft, while it is a draft."""

    @extend_schema_serializer(component_name="DraftAssistInput")
    class InputSerializer(StrictSerializer):
        action = serializers.ChoiceField(choices=AssistRequest.Action.choices)
        brief = serializers.CharField(max_length=assist.MAX_INSTRUCTION_CHARS, required=False,
                                      help_text="What to write (action `draft`).")
        instruction = serializers.CharField(max_length=assist.MAX_INSTRUCTION_CHARS, required=False,
                                            help_text="How to revise the selection (action `revise`).")
        selection = SelectionSerializer(required=False, allow_null=True, default=None,
                                        help_text="Character offsets in the revision's content (action `revise`).")
        revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                            default=None, help_text="The revision the selection is in (default: "
                                                                    "the current one).")

    @extend_schema_serializer(component_name="DraftAssistAccepted")
    class OutputSerializer(serializers.Serializer):
        assist = AssistSerializer()
        task_id = serializers.UUIDField()
        task_status = serializers.ChoiceField(choices=AgentTask.Status.choices)
        decision = serializers.CharField()
        decision_reasons = serializers.ListField(child=serializers.CharField())
        escalation_id = serializers.UUIDField(allow_null=True)

    @extend_schema(request=InputSerializer, responses={
        202: OpenApiResponse(OutputSerializer, description="Submitted (whatever the policy decided)."),
        409: error_response("The draft is not a draft any more (`conflict`).")})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        assist_request, submitted = assist.assist_request(
            user=request.user, draft_id=draft_id, action=data["action"],
            instruction=data.get("brief") or data.get("instruction") or "", selection=data["selection"],
            revision=data["revision"], correlation_id=request.correlation_id)
        task = submitted.task
        assist_request.task_status = task.status
        body = {"assist": assist_request, "task_id": task.pk, "task_status": task.status, "decision": task.decision,
                "decision_reasons": task.decision_reasons, "escalation_id": submitted.escalation_id}
        return Response(self.OutputSerializer(body).data, status=202)


class DraftAssistsApi(APIView):
    """The draft's requests for agent help, newest first, each with its run's status and what became of
    its answer (`applied` as `revision`; `conflict` or `not_applied` with the answer in `result`)."""

    pagination_class = Pagination

    @extend_schema(parameters=[ListFilterSerializer], responses=AssistSerializer(many=True))
    def get(self, request, draft_id):
        ListFilterSerializer.filters(request)
        draft, _ = selectors.draft_for(request.user, draft_id)
        return paginated_response(request, self, assist.assists_of(draft), AssistSerializer)
