"""Admin screens for approvers: the pending queue, decisions through the governance services, and
read-only policy versions and audit log. The admin only presents; every decision is a service call."""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from core.admin import TenantReadOnlyAdmin, as_text, pretty_json
from core.errors import ApplicationError, Invalid, error_text
from core.models import Membership
from governance import hooks, services
from governance.models import AuditEvent, Escalation, PolicyVersion

DECISIONS = {"approve": services.escalation_approve, "reject": services.escalation_reject}
DONE = {"approve": "approved", "reject": "rejected"}
OUTCOME = {"approve": "Approved: the task is queued.", "reject": "Rejected: the task will not run."}
TOOL_OUTCOME = {"approve": "Approved: the agent's call runs and the run goes on.",
                "reply": "Replied: the agent receives your message and goes on.",
                "reject": "Rejected: the agent is told, or its run stops."}


def _duration(start, end) -> str:
    """Seconds under a minute (an escalation can be that short), else Django's "3 minutes"."""
    seconds = int((end - start).total_seconds())
    return f"{max(seconds, 0)} seconds" if seconds < 60 else timesince(start, end)


def _edited_arguments(request, escalation):
    """The arguments box: unchanged means None (run as asked); changed must be a JSON object."""
    text = request.POST.get("arguments", "").strip()
    if not text:
        return None
    try:
        arguments = json.loads(text)
    except ValueError:
        raise Invalid(details={"arguments": ["Not valid JSON."]}) from None
    return None if arguments == escalation.parameters else arguments


class StatusFilter(admin.SimpleListFilter):
    """Status, open unless chosen otherwise: the queue shows what waits for a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*Escalation.Status.choices, ("all", "All")]

    def value(self):
        return super().value() or Escalation.Status.OPEN

    def queryset(self, request, queryset):
        return queryset if self.value() == "all" else queryset.filter(status=self.value())

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}


@admin.register(Escalation)
class EscalationAdmin(TenantReadOnlyAdmin):
    """The pending queue and a read-only detail page with Approve/Reject for those who may decide.
    Deciding (one or in bulk) always goes through escalation_approve/escalation_reject."""

    list_display = ["task", "risk", "cost", "requester", "reasons_short", "tier_group", "waiting", "time_left",
                    "status"]
    list_filter = [StatusFilter, "risk", "task_type", "tier"]
    list_select_related = ["requester"]
    search_fields = ["task_type", "summary", "requester__username", "task_id"]
    actions = ["approve_selected", "reject_selected"]
    fieldsets = [
        (None, {"fields": ["task_type", "task_id", "summary", "risk", "estimated_cost", as_text("requester"),
                           "reasons_list", "policy_version"]}),
        ("Approval", {"fields": ["status", "tier", "approver_group", "created_at", "waiting", "deadline", "time_left",
                                 as_text("decided_by"), "decided_at", "decision_reason", "decision_channel"]}),
        ("Parameters", {"fields": ["parameters_json"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    # --- columns ---

    @admin.display(description="task", ordering="task_type")
    def task(self, escalation):
        return format_html("{}<br><small>{}</small>", escalation.task_type, Truncator(escalation.summary).chars(60))

    @admin.display(description="est. cost", ordering="estimated_cost")
    def cost(self, escalation):
        return f"{escalation.estimated_cost:.2f}"

    @admin.display(description="reasons")
    def reasons_short(self, escalation):
        return Truncator("; ".join(escalation.reasons)).chars(60)

    @admin.display(description="reasons")
    def reasons_list(self, escalation):
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r,) for r in escalation.reasons)))

    @admin.display(description="tier", ordering="tier")
    def tier_group(self, escalation):
        return f"{escalation.tier}: {escalation.approver_group or 'any approver'}"

    @admin.display(description="waiting", ordering="created_at")
    def waiting(self, escalation):
        return _duration(escalation.created_at, escalation.decided_at or timezone.now())

    @admin.display(description="time left", ordering="deadline")
    def time_left(self, escalation):
        if escalation.status != Escalation.Status.OPEN:
            return "—"
        now = timezone.now()
        return "overdue" if escalation.deadline <= now else _duration(now, escalation.deadline)

    @admin.display(description="parameters")
    def parameters_json(self, escalation):
        return pretty_json(escalation.parameters)

    # --- detail page and single decisions ---

    def get_urls(self):
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        return [path("<uuid:object_id>/decide/", decide, name="governance_escalation_decide"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        escalation = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if escalation is not None:
            refusal = services.escalation_refusal(escalation, request.user)
            previous, chain = escalation.previous, []
            while previous is not None:
                chain.append(previous)
                previous = previous.previous
            context.update(
                refusal=refusal, earlier_tiers=chain,
                arguments_text=json.dumps(escalation.parameters, indent=2, sort_keys=True),
                can_decide=escalation.status == Escalation.Status.OPEN and refusal is None,
                task_events=hooks.task_history(tenant_id=escalation.tenant_id, task_id=escalation.task_id),
                run_steps=hooks.run_transcript(tenant_id=escalation.tenant_id, task_id=escalation.task_id)
                if escalation.step is not None else [])
        return super().change_view(request, object_id, form_url, context)

    def decide_view(self, request, object_id):
        """POST decision=approve|reject (and reply for an agent's tool call, with edited arguments, a message
        or stop_run) with a reason; the service decides who may, then back to the page."""
        decision = request.POST.get("decision")
        escalation = self.get_object(request, unquote(str(object_id)))
        is_tool_call = escalation is not None and escalation.step is not None
        if escalation is None or decision not in DECISIONS and not (is_tool_call and decision == "reply"):
            messages.error(request, "Choose a decision.")
            return redirect(reverse("admin:governance_escalation_change", args=[object_id]))
        common = {"escalation_id": object_id, "user": request.user, "reason": request.POST.get("reason", ""),
                  "channel": "admin", "correlation_id": request.correlation_id}
        try:
            if not is_tool_call:
                DECISIONS[decision](**common)
            elif decision == "approve":
                services.escalation_approve(**common, arguments=_edited_arguments(request, escalation))
            elif decision == "reply":
                services.escalation_reply(**common, message=request.POST.get("message", ""))
            else:
                services.escalation_reject(**common, stop_run=bool(request.POST.get("stop_run")))
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, (TOOL_OUTCOME if is_tool_call else OUTCOME)[decision])
        return redirect(reverse("admin:governance_escalation_change", args=[object_id]))

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
                    DECISIONS[decision](escalation_id=escalation.pk, user=request.user, reason=reason,
                                        channel="admin", correlation_id=request.correlation_id)
                    done += 1
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


@admin.register(PolicyVersion)
class PolicyVersionAdmin(TenantReadOnlyAdmin):
    list_display = ["version", "tenant", "author", "note", "created_at"]
    list_select_related = ["tenant", "author"]
    search_fields = ["note", "author__username"]
    fields = readonly_fields = [as_text("tenant"), "version", as_text("author"), "note", "created_at", "document_json",
                                "diff_json"]

    @admin.display(description="document")
    def document_json(self, version):
        return pretty_json(version.document)

    @admin.display(description="diff")
    def diff_json(self, version):
        return pretty_json(version.diff)


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
