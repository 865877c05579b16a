"""Admin screens for approvers: the pending queue, decisions through the governance services, and
read-only audit log (policy versions are core's configuration versions: core.configuration.admin). The admin only presents; every decision is a service call."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from core.admin import TenantReadOnlyAdmin, _each, as_text, membership_of, pretty_json
from core.charts import bar_chart
from core.errors import ApplicationError, Invalid, error_text
from core.parsers import strict_json
from core.models import Membership
from governance import hooks, selectors, services, stats, summaries
from governance.models import AuditEvent, Delegation, Escalation

DECISIONS = {"approve": services.escalation_approve, "reject": services.escalation_reject}
DONE = {"approve": "approved", "reject": "rejected"}
QUEUE_WINDOW = 500  # how far ahead the page looks for its place in the person's queue
OUTCOME = {"approve": "Approved: the task is queued.", "reject": "Rejected: the task will not run."}
TOOL_OUTCOME = {"approve": "Approved: the agent's call runs and the run goes on.",
                "reply": "Replied: the agent receives your message and goes on.",
                "reject": "Rejected: the agent is told, or its run stops."}


def _ago(moment) -> str:
    return f"{summaries.duration((timezone.now() - moment).total_seconds())} ago"


def _budget_left(escalation) -> str:
    used, limit = selectors.budget_today(tenant_id=escalation.tenant_id)
    if limit is None:
        return "no daily budget is set"
    left = limit - used
    text = f"{max(left, 0):.2f} of the daily budget of {limit:.2f} left today"
    return f"{text}; approving it goes over the budget" if escalation.estimated_cost > left else text


def _edited_arguments(request, escalation):
    """The arguments box: unchanged means None (run as asked); changed must be a JSON object."""
    text = request.POST.get("arguments", "").strip()
    if not text:
        return None
    try:
        arguments = strict_json(text)
    except ValueError as exc:
        raise Invalid(details={"arguments": [f"Not valid JSON: {exc}"]}) from None
    return None if arguments == escalation.parameters else arguments


class StatusFilter(admin.SimpleListFilter):
    """What the list shows: by default the open escalations the person may decide now (a superuser,
    who looks after every tenant, sees every open one)."""

    title = "status"
    parameter_name = "status"
    MINE = "mine"

    def __init__(self, request, params, model, model_admin):
        self.default = Escalation.Status.OPEN if request.user.is_superuser else self.MINE
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(self.MINE, "Waiting for me"), *Escalation.Status.choices, ("all", "All")]

    def value(self):
        return super().value() or self.default

    def queryset(self, request, queryset):
        if self.value() == self.MINE:
            waiting = selectors.escalations_waiting_for(user=request.user, membership=membership_of(request))
            return queryset.filter(pk__in=waiting.values("pk"))
        return queryset if self.value() == "all" else queryset.filter(status=self.value())

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}


class ValuesFilter(admin.SimpleListFilter):
    """The distinct non-empty values of a column among the rows the person may see (their tenant's)."""

    field = ""

    def lookups(self, request, model_admin):
        values = (model_admin.get_queryset(request).exclude(**{self.field: ""}).order_by(self.field)
                  .values_list(self.field, flat=True).distinct()[:100])
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


def values_filter(field: str, title: str):
    return type(f"{field.title()}Filter", (ValuesFilter,), {"field": field, "title": title, "parameter_name": field})


@admin.register(Escalation)
class EscalationAdmin(TenantReadOnlyAdmin):
    """The approver's inbox: open escalations they may decide, nearest deadline first, each in one line;
    a page that shows what will happen and the decision box first; a decision leads to the next one.
    Deciding (one or in bulk) always goes through escalation_approve/escalation_reject/escalation_reply."""

    list_display = ["what", "time_left", "requester", "tier_group", "risk", "cost", "channel", "progress"]
    list_display_links = ["what"]
    list_filter = [StatusFilter, values_filter("task_type", "task type"), values_filter("tool", "tool"),
                   ("requester", admin.RelatedOnlyFieldListFilter), "tier", values_filter("approver_group", "group"),
                   values_filter("channel", "channel"), "risk"]
    list_select_related = ["requester"]
    search_fields = ["summary", "task_type", "tool", "agent_reason", "requester__username", "=task_id"]
    ordering = ["deadline", "created_at"]
    actions = ["approve_selected", "reject_selected"]
    fieldsets = [
        (None, {"fields": ["task_type", "tool", "step", "task_id", "summary", "risk", "estimated_cost",
                           as_text("requester"), "channel", "policy_version"]}),
        ("Approval", {"fields": ["status", "tier", "approver_group", "created_at", "deadline", "final_outcome",
                                 "quorum", "reject_quorum", as_text("decided_by"), as_text("decided_for"),
                                 "decided_at", "decision_reason", "decision_channel",
                                 "decision_message", "decision_arguments_json"]}),
        ("Parameters", {"fields": ["parameters_json"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)
    TOOL_CALL_ONLY = {"tool", "step", "decision_message", "decision_arguments_json"}

    def get_fieldsets(self, request, obj=None):
        """A task's escalation leaves out the fields only an agent's tool call has."""
        if obj is None or obj.step is not None:
            return self.fieldsets
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in self.TOOL_CALL_ONLY]})
                for name, options in self.fieldsets]

    # --- columns ---

    @admin.display(description="what")
    def what(self, escalation):
        return summaries.one_line(escalation)

    @admin.display(description="est. cost", ordering="estimated_cost")
    def cost(self, escalation):
        return f"{escalation.estimated_cost:.2f}"

    @admin.display(description="tier", ordering="tier")
    def tier_group(self, escalation):
        return f"{escalation.tier}: {escalation.approver_group or 'any approver'}"

    @admin.display(description="time left", ordering="deadline")
    def time_left(self, escalation):
        if escalation.status != Escalation.Status.OPEN:
            return f"{escalation.status} {_ago(escalation.decided_at)}" if escalation.decided_at else "—"
        left = summaries.deadline(escalation, timezone.now())
        if left["overdue"]:
            return "overdue"
        if left["due_soon"]:
            return format_html('<span class="due-soon-text">⚠ due soon: {}</span>', left["left"])
        return left["left"]

    @admin.display(description="status", ordering="status")
    def progress(self, escalation):
        """The status, with a quorum's count while it is open ("open: 1 of 2 approvals")."""
        if escalation.status == Escalation.Status.OPEN and escalation.quorum_text:
            return f"open: {escalation.quorum_text}"
        return escalation.get_status_display()

    @admin.display(description="parameters")
    def parameters_json(self, escalation):
        return pretty_json(escalation.parameters)

    @admin.display(description="approved with arguments")
    def decision_arguments_json(self, escalation):
        return pretty_json(escalation.decision_arguments) if escalation.decision_arguments is not None else "—"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Escalations", **self._sla_context(request),
                                                 **(extra_context or {})})

    def _sla_context(self, request) -> dict:
        """The approval SLAs of the tenant the session acts in, above the list (none for a superuser acting in
        no tenant): the last 30 days' figures, and 14 days of p95 time to decision as a chart."""
        membership = membership_of(request)
        if membership is None:
            return {}
        figures = stats.approval_stats(tenant_id=membership.tenant_id, span=stats.window())
        days = stats.times_by_day(tenant_id=membership.tenant_id, days=14)
        minutes = max((row["p95_seconds"] or 0 for _, row in days), default=0) >= 120
        scale, unit = (60, " min") if minutes else (1, " s")
        chart = bar_chart([(f"{day:%b %d}", (row["p95_seconds"] or 0) / scale) for day, row in days],
                          title=f"Time to decision, p95 per day, last 14 days ({unit.strip()})", unit=unit, total=False)
        return {"sla": figures, "sla_chart": chart}

    # --- the page, and single decisions ---

    def get_urls(self):
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        return [path("<uuid:object_id>/decide/", decide, name="governance_escalation_decide"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        escalation = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if escalation is not None:
            context.update(self._decision_context(request, escalation))
        return super().change_view(request, object_id, form_url, context)

    def _decision_context(self, request, escalation) -> dict:
        now = timezone.now()
        refusal, acting_for = services.escalation_standing(escalation, request.user, membership_of(request))
        is_open = escalation.status == Escalation.Status.OPEN
        answered = services.escalation_answered(escalation, request.user, acting_for) if is_open else None
        previous, chain = escalation.previous, []
        while previous is not None:
            chain.append(previous)
            previous = previous.previous
        waiting = list(selectors.escalations_waiting_for(user=request.user, membership=membership_of(request))
                       .values_list("pk", flat=True)[:QUEUE_WINDOW])
        position = waiting.index(escalation.pk) + 1 if escalation.pk in waiting else None
        # The next one after this; past the end (or when this one is not waiting), the first other one.
        following = (waiting[position:] if position else []) or [pk for pk in waiting if pk != escalation.pk]
        headline = summaries.headline(escalation)
        return {
            "title": f"{'Decide' if is_open and refusal is None else 'Escalation'}: {headline}",
            "subtitle": None,
            "who": summaries.actor(escalation), "headline": headline,
            "details": summaries.details(escalation, request), "budget": _budget_left(escalation),
            "deadline": summaries.deadline(escalation, now) if is_open else None, "is_open": is_open,
            "position": position, "waiting_count": len(waiting),
            "next_url": reverse("admin:governance_escalation_change", args=[following[0]]) if following else None,
            "refusal": refusal, "can_decide": is_open and refusal is None and not answered, "earlier_tiers": chain,
            "answered": answered, "acting_for": acting_for,
            "approvals": list(selectors.escalation_votes(escalation_id=escalation.pk)),
            "arguments_text": json.dumps(escalation.parameters, indent=2, sort_keys=True),
            "task_events": hooks.task_history(tenant_id=escalation.tenant_id, task_id=escalation.task_id),
            "run_steps": hooks.run_transcript(tenant_id=escalation.tenant_id, task_id=escalation.task_id)
            if escalation.step is not None else []}

    def decide_view(self, request, object_id):
        """POST decision=approve|reject (and reply for an agent's tool call, with edited arguments, a message
        or stop_run) with a reason; the service decides who may. Then on to the next escalation waiting
        for this person, or home when there is none; back to the page when the decision was refused."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        decision = request.POST.get("decision")
        escalation = self.get_object(request, unquote(str(object_id)))
        is_tool_call = escalation is not None and escalation.step is not None
        here = reverse("admin:governance_escalation_change", args=[object_id])
        if escalation is None or decision not in DECISIONS and not (is_tool_call and decision == "reply"):
            messages.error(request, "Choose a decision.")
            return redirect(here)
        common = {"escalation_id": object_id, "user": request.user, "reason": request.POST.get("reason", ""),
                  "channel": "admin", "correlation_id": request.correlation_id}
        try:
            if not is_tool_call:
                decided = DECISIONS[decision](**common)
            elif decision == "approve":
                decided = services.escalation_approve(**common, arguments=_edited_arguments(request, escalation))
            elif decision == "reply":
                decided = services.escalation_reply(**common, message=request.POST.get("message", ""))
            else:
                decided = services.escalation_reject(**common, stop_run=bool(request.POST.get("stop_run")))
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
            return redirect(here)
        waiting = selectors.escalations_waiting_for(user=request.user, membership=membership_of(request))
        following = waiting.exclude(pk=escalation.pk).values_list("pk", flat=True)
        count = following.count()
        outcome = (TOOL_OUTCOME if is_tool_call else OUTCOME)[decision]
        if decided.status == Escalation.Status.OPEN:  # one answer of a quorum
            outcome = f"Your answer is recorded: {decided.quorum_text}; it is decided once enough approvers answer."
        if not count:
            messages.success(request, f"{outcome} Nothing else is waiting for you.")
            return redirect(reverse("admin:index"))
        messages.success(request, f"{outcome} Next: {count} more waiting for you.")
        return redirect(reverse("admin:governance_escalation_change", args=[following[0]]))

    # --- bulk decisions ---

    @admin.action(description="Approve selected escalations")
    def approve_selected(self, request, queryset):
        return self._decide_selected(request, queryset, "approve")

    @admin.action(description="Reject selected escalations")
    def reject_selected(self, request, queryset):
        return self._decide_selected(request, queryset, "reject")

    def _decide_selected(self, request, queryset, decision):
        """Ask for one reason, then decide each selected escalation through the service; report refusals."""
        reason = request.POST.get("reason", "").strip()
        if "confirm" in request.POST and reason:
            done, refused = 0, []
            for escalation in queryset:
                try:
                    decided = DECISIONS[decision](escalation_id=escalation.pk, user=request.user, reason=reason,
                                                  channel="admin", correlation_id=request.correlation_id)
                    done += 1
                    if decided.status == Escalation.Status.OPEN:
                        messages.info(request, f"{escalation.task_type} from {escalation.requester}: your answer is "
                                               f"recorded ({decided.quorum_text}).")
                except ApplicationError as exc:
                    refused.append(f"{escalation.task_type} from {escalation.requester}: {error_text(exc)}")
            if done:
                messages.success(request, f"{DONE[decision].capitalize()} {done} of {len(queryset)} escalations.")
            for refusal in refused:
                messages.warning(request, f"Not {DONE[decision]}: {refusal}")
            return None
        return TemplateResponse(request, "admin/governance/escalation/decide_selected.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "queryset": queryset, "decision": decision,
            "action": f"{decision}_selected", "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "missing_reason": "confirm" in request.POST, "title": f"{decision.capitalize()} selected escalations"})


@admin.register(AuditEvent)
class AuditEventAdmin(TenantReadOnlyAdmin):
    """The audit log, for tenant admins: append-only in the database, so never editable here."""

    roles = (Membership.Role.ADMIN,)
    list_display = ["seq", "tenant", "actor", "action", "target", "created_at"]
    list_filter = ["action"]
    list_select_related = ["tenant"]
    search_fields = ["actor", "action", "object_id", "correlation_id"]
    ordering = ["-created_at", "-seq"]
    fields = readonly_fields = [as_text("tenant"), "seq", "created_at", "actor", "action", "target", "correlation_id",
                                "before_json", "after_json", "prev_hash", "hash"]

    @admin.display(description="object")
    def target(self, event):
        return f"{event.object_type}:{event.object_id}"

    @admin.display(description="before")
    def before_json(self, event):
        return pretty_json(event.before)

    @admin.display(description="after")
    def after_json(self, event):
        return pretty_json(event.after)


class DelegationForm(forms.Form):
    """Out of office: whose approvals (an admin may pick any approver; an approver, their own), to whom, when."""

    delegator = forms.ModelChoiceField(queryset=None, label="Whose approvals",
                                       help_text="Yours, unless you are a tenant admin covering for someone.")
    delegate = forms.ModelChoiceField(queryset=None, label="Delegate to",
                                      help_text="Another approver or admin of this tenant.")
    starts_at = forms.DateTimeField(label="From (UTC)", required=False, help_text="Empty: now.")
    ends_at = forms.DateTimeField(label="Until (UTC)")
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        people = get_user_model().objects.filter(
            memberships__tenant_id=membership.tenant_id, memberships__role__in=Membership.DECIDING_ROLES,
            is_active=True).order_by("username")
        self.fields["delegate"].queryset = people.exclude(pk=membership.user_id)
        self.fields["delegator"].queryset = people if membership.role == Membership.Role.ADMIN else people.filter(
            pk=membership.user_id)
        self.fields["delegator"].initial = membership.user_id


@admin.register(Delegation)
class DelegationAdmin(TenantReadOnlyAdmin):
    """Who stands in for whom, and when. Adding one (out of office) and revoking go through the governance
    services, with the API's rules: approvers delegate their own approvals, admins anyone's; no chains."""

    list_display = ["delegator", "delegate", "starts_at", "ends_at", "state", "reason", "created_by"]
    list_select_related = ["delegator", "delegate", "created_by"]
    search_fields = ["delegator__username", "delegate__username", "reason"]
    ordering = ["-starts_at"]
    actions = ["revoke_selected"]
    fields = readonly_fields = [as_text("delegator"), as_text("delegate"), "starts_at", "ends_at", "reason",
                                as_text("created_by"), "created_at", "revoked_at"]

    @admin.display(description="state")
    def state(self, delegation):
        now = timezone.now()
        if delegation.revoked_at:
            return "revoked"
        if delegation.ends_at <= now:
            return "ended"
        return "active" if delegation.starts_at <= now else "scheduled"

    def has_add_permission(self, request):
        return self.acting_membership(request) is not None

    def add_view(self, request, form_url="", extra_context=None):
        membership = self.acting_membership(request)
        if membership is None:
            raise PermissionDenied
        form = DelegationForm(request.POST or None, membership=membership)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                services.delegation_create(membership=membership, delegator=data["delegator"],
                                           delegate=data["delegate"], starts_at=data["starts_at"],
                                           ends_at=data["ends_at"], reason=data["reason"],
                                           correlation_id=request.correlation_id)
            except ApplicationError as exc:
                messages.error(request, error_text(exc))
            else:
                messages.success(request, f"{data['delegate']} now receives {data['delegator']}'s escalations "
                                          f"until {data['ends_at']:%Y-%m-%d %H:%M} UTC.")
                return redirect(reverse("admin:governance_delegation_changelist"))
        return TemplateResponse(request, "admin/governance/delegation/add.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "form": form,
            "title": "Delegate approvals (out of office)"})

    @admin.action(description="Revoke selected delegations (end them now)")
    def revoke_selected(self, request, queryset):
        membership = self.acting_membership(request)
        if membership is None:
            messages.error(request, "Only the tenant's approvers and admins may revoke delegations.")
            return
        _each(request, list(queryset), lambda delegation: services.delegation_revoke(
            membership=membership, delegation_id=delegation.pk, correlation_id=request.correlation_id), "revoked")


from governance import policy_admin  # noqa: E402,F401 - registers the decisions list and the policy screen
