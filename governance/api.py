"""Thin views over governance services: escalations, the tenant's policy, the audit log."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Invalid, NotFound
from core.schema import error_response
from core.selectors import membership_for_user
from core.serializers import (IsApprover, IsPerson, IsTenantAdmin, ListFilterSerializer, NoInput, Pagination,
                              StrictSerializer, paginated_response)
from core.models import ConfigVersion, Membership
from governance import selectors, services, simulation, stats, suggestions, summaries
from governance.models import AuditEvent, Delegation, Escalation, EscalationVote
from governance.policy import ALLOW_BELOW, AUTONOMY_LEVELS, MAX_COST, MAX_QUORUM, RULES


class EscalationVoteSerializer(serializers.ModelSerializer):
    voter = serializers.CharField(source="voter.username")
    on_behalf_of = serializers.CharField(source="on_behalf_of.username", default=None, allow_null=True,
                                         help_text="The approver a delegate answered for.")

    class Meta:
        model = EscalationVote
        fields = ["voter", "on_behalf_of", "outcome", "reason", "channel", "arguments", "created_at"]


class EscalationOutputSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username")
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    decided_for = serializers.CharField(source="decided_for.username", default=None, allow_null=True,
                                        help_text="The approver the deciding delegate stood in for.")
    quorum_text = serializers.CharField(read_only=True, help_text='"1 of 2 approvals" (empty for one approver).')
    votes = EscalationVoteSerializer(many=True, read_only=True, help_text="Each person's answer on this tier.")
    what = serializers.SerializerMethodField(help_text='What it will do, in one line: "sam wants to POST to '
                                                       'crm.example.com".')

    def get_what(self, escalation) -> str:
        return summaries.one_line(escalation)

    class Meta:
        model = Escalation
        fields = ["id", "task_id", "task_type", "what", "summary", "parameters", "risk", "estimated_cost", "requester",
                  "channel", "reasons", "policy_version", "tier", "approver_group", "deadline", "status", "decided_by",
                  "decided_at", "decision_reason", "decision_channel", "created_at", "step", "tool", "agent_reason",
                  "decision_arguments", "decision_message", "stop_run", "quorum", "reject_quorum", "approvals",
                  "rejections", "quorum_text", "votes", "decided_for"]


class EscalationsActiveApi(APIView):
    permission_classes = [IsApprover]
    pagination_class = Pagination

    @extend_schema(parameters=[ListFilterSerializer], responses=EscalationOutputSerializer(many=True))
    def get(self, request):
        ListFilterSerializer.filters(request)  # paging only: a 400 for a bad page or an unknown parameter
        tenant_id = membership_for_user(request.user).tenant_id
        return paginated_response(request, self, selectors.escalations_active(tenant_id=tenant_id),
                                  EscalationOutputSerializer)


class EscalationDetailApi(APIView):
    @extend_schema(responses=EscalationOutputSerializer)
    def get(self, request, escalation_id):
        escalation = selectors.escalation_for_user(user=request.user, escalation_id=escalation_id)
        if escalation is None:
            raise NotFound("No such escalation.")
        return Response(EscalationOutputSerializer(escalation).data)


class EscalationDecisionApi(APIView):
    """POST a decision: the same service rules as the admin, Slack and SMS. An agent's tool call may also
    be approved with edited `arguments`, answered with a `message` (reply), or rejected with `stop_run`."""

    @extend_schema_serializer(component_name="EscalationDecisionInput")
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=2000)

    decide = None  # the governance service
    DECIDED = {200: EscalationOutputSerializer,
               409: error_response("The escalation is decided already (the first decision stands), or its "
                                   "deadline has passed (`conflict`).")}

    def post(self, request, escalation_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        escalation = type(self).decide(escalation_id=escalation_id, user=request.user,
                                       correlation_id=request.correlation_id, **payload.validated_data)
        return Response(EscalationOutputSerializer(escalation).data)


class EscalationApproveApi(EscalationDecisionApi):
    @extend_schema_serializer(component_name="EscalationApproveInput")
    class InputSerializer(EscalationDecisionApi.InputSerializer):
        arguments = serializers.JSONField(required=False, help_text=(  # the service checks them against the tool's
            "An agent's tool call only (an escalation with a `tool`): the arguments it runs with instead, valid "
            "against the tool's schema."))

    decide = staticmethod(services.escalation_approve)

    @extend_schema(request=InputSerializer, responses=EscalationDecisionApi.DECIDED)
    def post(self, request, escalation_id):
        return super().post(request, escalation_id)


class EscalationRejectApi(EscalationDecisionApi):
    @extend_schema_serializer(component_name="EscalationRejectInput")
    class InputSerializer(EscalationDecisionApi.InputSerializer):
        stop_run = serializers.BooleanField(required=False, default=False, help_text=(
            "An agent's tool call only (an escalation with a `tool`): end the agent's run as well."))

    decide = staticmethod(services.escalation_reject)

    @extend_schema(request=InputSerializer, responses=EscalationDecisionApi.DECIDED)
    def post(self, request, escalation_id):
        return super().post(request, escalation_id)


class EscalationReplyApi(EscalationDecisionApi):
    @extend_schema_serializer(component_name="EscalationReplyInput")
    class InputSerializer(EscalationDecisionApi.InputSerializer):
        message = serializers.CharField(max_length=20000, help_text=(
            "An agent's tool call only (an escalation with a `tool`): what the agent gets instead of the tool's "
            "result; the tool does not run."))

    decide = staticmethod(services.escalation_reply)

    @extend_schema(request=InputSerializer, responses=EscalationDecisionApi.DECIDED)
    def post(self, request, escalation_id):
        return super().post(request, escalation_id)


# --- policy -------------------------------------------------------------------------------------


class LadderTierSerializer(StrictSerializer):
    group = serializers.CharField(max_length=150, allow_blank=True, default="")
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=30 * 24 * 3600)
    quorum = serializers.IntegerField(min_value=1, max_value=MAX_QUORUM, required=False,
                                      help_text="Approvals from different people this tier needs (default 1).")
    reject_quorum = serializers.IntegerField(min_value=1, max_value=MAX_QUORUM, required=False,
                                             help_text="Rejections that reject (default 1: one rejection rejects).")


@extend_schema_field({"oneOf": [
    {"type": "string", "enum": list(RULES)},
    {"type": "object", "additionalProperties": False, "required": [ALLOW_BELOW],
     "properties": {ALLOW_BELOW: {"type": "number", "minimum": 0, "maximum": MAX_COST}}}],
    "description": 'A task type\'s rule: "allow", "escalate", "deny", or {"allow_below": cost}: allowed up to that '
                   "estimated cost, above it the autonomy level decides."})
class RuleField(serializers.Field):
    """One rule of the policy (governance.policy.decide reads it)."""

    default_error_messages = {"invalid": 'Expected "allow", "escalate", "deny" or {{"allow_below": <a cost, 0 or more>}}.'}

    def to_internal_value(self, data):
        if isinstance(data, str) and data in RULES:
            return data
        if isinstance(data, dict) and set(data) == {ALLOW_BELOW}:
            cost = data[ALLOW_BELOW]
            # Compared before float(): a 400-digit integer is refused, not overflowed; NaN compares False.
            if isinstance(cost, int | float) and not isinstance(cost, bool) and 0 <= cost <= MAX_COST:
                return {ALLOW_BELOW: float(cost)}
        self.fail("invalid")

    def to_representation(self, value):
        return value


class PolicyDocumentSerializer(StrictSerializer):
    """A policy change: any subset of the fields; what is left out keeps its current value."""

    autonomy_level = serializers.ChoiceField(choices=AUTONOMY_LEVELS, required=False)
    rules = serializers.DictField(child=RuleField(), required=False)
    cost_threshold = serializers.FloatField(min_value=0, required=False)
    hard_cost_limit = serializers.FloatField(min_value=0, required=False, allow_null=True)
    daily_budget = serializers.FloatField(min_value=0, required=False, allow_null=True)
    over_budget = serializers.ChoiceField(choices=["escalate", "deny"], required=False)
    allow_self_approval = serializers.BooleanField(required=False)
    ladder = LadderTierSerializer(many=True, required=False, allow_empty=False)
    final_outcome = serializers.ChoiceField(choices=["reject", "approve"], required=False)
    reminder_fraction = serializers.FloatField(
        min_value=0.01, max_value=0.99, required=False, allow_null=True,
        help_text="When, as a share of a tier's time, approvers who have not answered get one reminder (null: never).")
    http_allowed_hosts = serializers.ListField(child=serializers.CharField(max_length=253), required=False,
                                               max_length=100)
    suggest_after = serializers.IntegerField(min_value=2, max_value=1000, required=False, help_text=(
        "How many decided escalations of a task type in a row an autonomy suggestion needs (default 20)."))


class PolicyOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    policy = serializers.JSONField()


class PolicyApi(APIView):
    def get_permissions(self):
        return [IsTenantAdmin()] if self.request.method == "PUT" else super().get_permissions()

    @extend_schema(responses=PolicyOutputSerializer)
    def get(self, request):
        policy, version = selectors.policy_current(tenant_id=membership_for_user(request.user).tenant_id)
        return Response({"version": version, "policy": policy})

    @extend_schema(request=PolicyDocumentSerializer, responses=PolicyOutputSerializer)
    def put(self, request):
        payload = PolicyDocumentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant_id = membership_for_user(request.user).tenant_id
        created = services.policy_update(tenant_id=tenant_id, user=request.user,
                                         document=payload.validated_data, correlation_id=request.correlation_id)
        return Response({"version": created.version, "policy": selectors.policy_current(
            tenant_id=created.tenant_id)[0]})


class PolicyVersionSerializer(serializers.ModelSerializer):
    """A policy version as this endpoint always showed it (core.ConfigVersion's content is its `document`, its
    reason its `note`)."""

    document = serializers.JSONField(source="content")
    author = serializers.CharField(source="author.username", default=None, allow_null=True)
    note = serializers.CharField(source="reason")

    class Meta:
        model = ConfigVersion
        fields = ["version", "document", "diff", "author", "note", "created_at"]


class PolicyVersionsApi(APIView):
    pagination_class = Pagination

    @extend_schema(parameters=[ListFilterSerializer], responses=PolicyVersionSerializer(many=True))
    def get(self, request):
        ListFilterSerializer.filters(request)  # paging only: a 400 for a bad page or an unknown parameter
        versions = selectors.policy_versions(tenant_id=membership_for_user(request.user).tenant_id)
        return paginated_response(request, self, versions, PolicyVersionSerializer)


class PolicyRollbackApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema_serializer(component_name="PolicyRollbackInput")
    class InputSerializer(StrictSerializer):
        version = serializers.IntegerField(min_value=0, max_value=2**31 - 1,
                                           help_text="The version to return to; 0: the default policy.")

    @extend_schema(request=InputSerializer, responses=PolicyOutputSerializer)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.policy_rollback(tenant_id=membership_for_user(request.user).tenant_id, user=request.user,
                                           version=payload.validated_data["version"],
                                           correlation_id=request.correlation_id)
        return Response({"version": created.version, "policy": selectors.policy_current(
            tenant_id=created.tenant_id)[0]})


# --- simulation and autonomy suggestions --------------------------------------------------------


@extend_schema_serializer(component_name="SimulatedDecision")
class SimulatedDecisionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=RULES)
    reasons = serializers.ListField(child=serializers.CharField())


@extend_schema_serializer(component_name="SimulationExample")
class SimulationExampleSerializer(serializers.Serializer):
    subject = serializers.ChoiceField(choices=["task", "tool_call"])
    task_id = serializers.UUIDField(allow_null=True)
    step = serializers.IntegerField(allow_null=True, help_text="An agent run's tool call: its step.")
    task_type = serializers.CharField()
    estimated_cost = serializers.DecimalField(max_digits=12, decimal_places=4)
    created_at = serializers.DateTimeField()
    policy_version = serializers.IntegerField()
    recorded = SimulatedDecisionSerializer()
    simulated = SimulatedDecisionSerializer()


@extend_schema_serializer(component_name="PolicySimulation")
class SimulationSerializer(serializers.Serializer):
    replayed = serializers.IntegerField(help_text="Decisions replayed: the tenant's last `last`, oldest first.")
    changed = serializers.IntegerField()
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    transitions = serializers.DictField(child=serializers.IntegerField(), help_text=(
        'Changed decisions by recorded→simulated outcome, e.g. {"escalate→allow": 12}.'))
    cost_without_review = serializers.DecimalField(max_digits=16, decimal_places=4, help_text=(
        "The estimated cost of the decisions recorded as escalate or deny that would have been allowed."))
    escalations_avoided = serializers.IntegerField(help_text="Recorded escalations the policy would not raise.")
    examples = serializers.DictField(child=SimulationExampleSerializer(many=True), help_text=(
        "Up to 5 changed decisions per transition."))


class PolicySimulateApi(APIView):
    """What a policy change would have decided on the tenant's recent decisions, replayed through the live
    gate's own function with the facts each one saw. Nothing is saved. Approvers and admins."""

    permission_classes = [IsApprover]

    @extend_schema_serializer(component_name="PolicySimulateInput")
    class InputSerializer(StrictSerializer):
        policy = PolicyDocumentSerializer(help_text="A policy change, as PUT /api/governance/policy takes it (what "
                                                    "is left out keeps its current value).")
        last = serializers.IntegerField(min_value=1, max_value=simulation.LAST_MAX, default=simulation.LAST_DEFAULT)

    @extend_schema(request=InputSerializer, responses=SimulationSerializer)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant_id = membership_for_user(request.user).tenant_id
        policy = selectors.policy_changed(tenant_id=tenant_id, document=payload.validated_data["policy"])
        result = simulation.simulate(tenant_id=tenant_id, policy=policy, last=payload.validated_data["last"])
        return Response(SimulationSerializer(result).data)


@extend_schema_serializer(component_name="SuggestionDecision")
class SuggestionDecisionSerializer(serializers.Serializer):
    escalation_id = serializers.UUIDField(help_text="The chain's last escalation.")
    task_id = serializers.UUIDField()
    step = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField()
    estimated_cost = serializers.DecimalField(max_digits=12, decimal_places=4)


@extend_schema_serializer(component_name="SuggestionEvidence")
class SuggestionEvidenceSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="The decided escalations looked at: the policy's `suggest_after`.")
    approvers = serializers.ListField(child=serializers.CharField())
    share_rejected = serializers.FloatField()
    decisions = SuggestionDecisionSerializer(many=True)


@extend_schema_serializer(component_name="AutonomySuggestion")
class SuggestionSerializer(serializers.Serializer):
    task_type = serializers.CharField()
    rule = RuleField()
    summary = serializers.CharField()
    evidence = SuggestionEvidenceSerializer()
    policy = serializers.JSONField(help_text="The whole policy with the rule in force.")
    simulation = SimulationSerializer(help_text="That policy over the tenant's last 1000 decisions.")


class SuggestionsApi(APIView):
    """Rules the approval record argues for (governance.suggestions): each with its evidence, the policy it
    proposes and that policy's simulation. Nothing changes until an admin accepts one. Approvers and admins."""

    permission_classes = [IsApprover]

    @extend_schema(responses=SuggestionSerializer(many=True))
    def get(self, request):
        found = suggestions.suggestions_for(tenant_id=membership_for_user(request.user).tenant_id)
        return Response(SuggestionSerializer(found, many=True).data)


class SuggestionAcceptApi(APIView):
    """Put a suggestion's rule in force: a new policy version, as PUT /api/governance/policy saves one, noting
    the suggestion. It is worked out again first. Tenant admins."""

    permission_classes = [IsTenantAdmin]

    @extend_schema_serializer(component_name="SuggestionAcceptInput")
    class InputSerializer(StrictSerializer):
        task_type = serializers.CharField(max_length=100)
        rule = RuleField()

    @extend_schema(request=InputSerializer, responses={
        200: PolicyOutputSerializer,
        409: error_response("No such suggestion stands now: accepted already, or the approval record no longer "
                            "argues for it (`conflict`).")})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = suggestions.suggestion_accept(tenant_id=membership_for_user(request.user).tenant_id,
                                                user=request.user, correlation_id=request.correlation_id,
                                                **payload.validated_data)
        return Response({"version": created.version, "policy": selectors.policy_current(
            tenant_id=created.tenant_id)[0]})


# --- audit --------------------------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["seq", "actor", "action", "object_type", "object_id", "before", "after", "correlation_id",
                  "created_at", "prev_hash", "hash"]


class AuditApi(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = Pagination

    class FilterSerializer(ListFilterSerializer):
        action = serializers.CharField(required=False)
        object_id = serializers.CharField(required=False)
        actor = serializers.CharField(required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=AuditEventSerializer(many=True))
    def get(self, request):
        events = selectors.audit_events(tenant_id=membership_for_user(request.user).tenant_id,
                                        **self.FilterSerializer.filters(request))
        return paginated_response(request, self, events, AuditEventSerializer)


# --- delegation ---------------------------------------------------------------------------------


class DelegationSerializer(serializers.ModelSerializer):
    delegator = serializers.CharField(source="delegator.username")
    delegate = serializers.CharField(source="delegate.username")
    created_by = serializers.CharField(source="created_by.username")
    active = serializers.SerializerMethodField(help_text="In force now: started, not ended, not revoked.")

    def get_active(self, delegation) -> bool:
        now = timezone.now()
        return delegation.revoked_at is None and delegation.starts_at <= now < delegation.ends_at

    class Meta:
        model = Delegation
        fields = ["id", "delegator", "delegate", "starts_at", "ends_at", "reason", "created_by", "created_at",
                  "revoked_at", "active"]


class IsPersonDelegating(IsPerson):
    message = "Delegating approvals is a person's act: sign in as one (an API key cannot)."


class DelegationsApi(APIView):
    """An approver away (out of office) hands their escalations to another approver of the tenant for a
    period: the delegate is told of them and may decide them; decisions record both names. Chains are refused."""

    permission_classes = [IsPersonDelegating, IsApprover]
    pagination_class = Pagination

    @extend_schema_serializer(component_name="DelegationInput")
    class InputSerializer(StrictSerializer):
        delegate = serializers.CharField(max_length=150, help_text="The username of an approver or admin.")
        ends_at = serializers.DateTimeField()
        starts_at = serializers.DateTimeField(required=False, help_text="Default: now.")
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
        delegator = serializers.CharField(max_length=150, required=False,
                                          help_text="Tenant admins only: whose approvals (default: your own).")

    @extend_schema(parameters=[ListFilterSerializer], responses=DelegationSerializer(many=True))
    def get(self, request):
        ListFilterSerializer.filters(request)
        membership = membership_for_user(request.user)
        delegations = selectors.delegations_of(tenant_id=membership.tenant_id, user=request.user,
                                               membership=membership)
        return paginated_response(request, self, delegations, DelegationSerializer)

    @extend_schema(request=InputSerializer, responses={201: DelegationSerializer,
                                                       409: error_response("A delegation chain, or an overlapping "
                                                                           "delegation (`conflict`).")})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        membership = membership_for_user(request.user)
        people = {field: _member(membership.tenant_id, data[field], field) for field in ("delegate", "delegator")
                  if field in data}
        delegation = services.delegation_create(
            membership=membership, delegator=people.get("delegator", request.user), delegate=people["delegate"],
            starts_at=data.get("starts_at"), ends_at=data["ends_at"], reason=data["reason"],
            correlation_id=request.correlation_id)
        return Response(DelegationSerializer(delegation).data, status=201)


def _member(tenant_id: int, username: str, field: str):
    """The user of this tenant with that username; a 400 naming the field otherwise (no hint of other tenants')."""
    membership = Membership.objects.filter(tenant_id=tenant_id, user__username=username).select_related("user").first()
    if membership is None:
        raise Invalid(details={field: [f"No one named {username!r} in this tenant."]})
    return membership.user


class DelegationRevokeApi(APIView):
    permission_classes = [IsPersonDelegating, IsApprover]

    @extend_schema(request=None, responses={200: DelegationSerializer, 409: error_response("Ended already.")})
    def post(self, request, delegation_id):
        NoInput.check(request)
        delegation = services.delegation_revoke(membership=membership_for_user(request.user),
                                                delegation_id=delegation_id, correlation_id=request.correlation_id)
        return Response(DelegationSerializer(delegation).data)


@extend_schema_serializer(component_name="ApprovalTimes")
class ApprovalTimesSerializer(serializers.Serializer):
    decisions = serializers.IntegerField()
    p50_seconds = serializers.FloatField(allow_null=True)
    p95_seconds = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="ApprovalTimesOfGroup")
class GroupTimesSerializer(ApprovalTimesSerializer):
    group = serializers.CharField(allow_blank=True, help_text="The tier's approver group (empty: every approver).")


@extend_schema_serializer(component_name="ApprovalTimesOfApprover")
class ApproverTimesSerializer(ApprovalTimesSerializer):
    approver = serializers.CharField()


@extend_schema_serializer(component_name="ApprovalStats")
class ApprovalStatsSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    time_to_decision = ApprovalTimesSerializer()
    by_group = GroupTimesSerializer(many=True)
    by_approver = ApproverTimesSerializer(many=True)
    chains_ended = serializers.IntegerField()
    expired = serializers.IntegerField(help_text="Chains that ended with no one deciding (by the last deadline).")
    expired_share = serializers.FloatField(allow_null=True)
    waiting_seconds = serializers.FloatField(help_text="What the chains that ended kept tasks and runs waiting.")
    agent_waiting_seconds = serializers.FloatField(help_text="Of which agent runs' tool calls.")


class StatsApi(APIView):
    """Approval SLAs over a window (default the last 30 days): time to decision p50/p95 for the tenant, per
    tier group and per approver; the share of chains that ended with no one deciding; the time tasks and agent
    runs spent waiting. Approvers and admins."""

    permission_classes = [IsApprover]

    @extend_schema_serializer(component_name="ApprovalStatsFilter")
    class FilterSerializer(StrictSerializer):
        def get_fields(self):  # `from` is a Python keyword: the field is added by name
            fields = super().get_fields()
            fields["from"] = serializers.DateTimeField(required=False, help_text="Default: 30 days before `to`.")
            fields["to"] = serializers.DateTimeField(required=False, help_text="The window's end, excluded. "
                                                                               "Default: now.")
            return fields

        def validate(self, data):
            if data.get("from") and data.get("to") and data["from"] >= data["to"]:
                raise serializers.ValidationError({"from": ["Must be before `to`."]})
            return data

    @extend_schema(parameters=[FilterSerializer], responses=ApprovalStatsSerializer)
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        span = stats.window(start=query.validated_data.get("from"), end=query.validated_data.get("to"))
        figures = stats.approval_stats(tenant_id=membership_for_user(request.user).tenant_id, span=span)
        return Response(ApprovalStatsSerializer(figures).data)
