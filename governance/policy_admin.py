"""The policy screen, for a tenant's admins and approvers: the policy in force as JSON, what an edited one
would have decided on the recent decisions (nothing saved), saving it as a new version (admins), and the
autonomy suggestions with their evidence, each accepted with one button (admins). Only presents: every
change is governance.services.policy_update or governance.suggestions.suggestion_accept; the simulation is
governance.simulation's. Also the read-only list of the decisions themselves."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import TenantReadOnlyAdmin
from core.errors import ApplicationError, Invalid, error_text
from core.models import Membership
from core.parsers import strict_json
from governance import selectors, services, simulation, suggestions
from governance.models import DecisionRecord


def _json_field(text: str, field: str):
    try:
        return strict_json(text)
    except ValueError as exc:
        raise Invalid(details={field: [f"Not valid JSON: {exc}"]}) from None


def _document(text: str) -> dict:
    """The policy box's JSON, validated as PUT /api/governance/policy validates it."""
    from governance.api import PolicyDocumentSerializer  # the one definition of a valid policy change

    serializer = PolicyDocumentSerializer(data=_json_field(text, "policy"))
    if not serializer.is_valid():
        raise Invalid(details=serializer.errors)
    return serializer.validated_data


def _last(text: str) -> int:
    last = int(text) if text.strip().isdigit() else 0
    if not 1 <= last <= simulation.LAST_MAX:
        raise Invalid(details={"last": [f"A number of decisions from 1 to {simulation.LAST_MAX}."]})
    return last


@admin.register(DecisionRecord)
class DecisionRecordAdmin(TenantReadOnlyAdmin):
    """Every decision of the policy gate, newest first, with the facts it saw; the policy screen is beside it."""

    list_display = ["created_at", "subject", "task_type", "risk", "estimated_cost", "committed_before", "outcome",
                    "policy_version"]
    list_filter = ["outcome", "subject", "risk"]
    search_fields = ["task_type", "=task_id"]
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = ["created_at", "subject", "task_id", "step", "task_type", "risk",
                                "external_side_effects", "estimated_cost", "committed_before", "outcome", "reasons",
                                "policy_version"]

    def get_urls(self):
        screen = self.admin_site.admin_view(self.policy_view)
        return [path("policy/", screen, name="governance_policy"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"policy_url": reverse("admin:governance_policy"),
                                                 **(extra_context or {})})

    def policy_view(self, request):
        """GET shows; POST action=simulate|save (the policy box) or accept (one suggestion's task_type and rule).
        Saving and accepting are for tenant admins; a refusal or an invalid policy is shown above the form."""
        membership = self.acting_membership(request)
        if membership is None:
            raise PermissionDenied
        tenant_id, is_admin = membership.tenant_id, membership.role == Membership.Role.ADMIN
        here = reverse("admin:governance_policy")
        policy, version = selectors.policy_current(tenant_id=tenant_id)
        text, last, result = json.dumps(policy, indent=2, sort_keys=True), simulation.LAST_DEFAULT, None
        action = request.POST.get("action") if request.method == "POST" else None
        if action in ("save", "accept") and not is_admin:
            raise PermissionDenied
        try:
            if action in ("simulate", "save"):
                text = request.POST.get("policy", "")
                document = _document(text)
                if action == "save":
                    created = services.policy_update(tenant_id=tenant_id, user=request.user, document=document,
                                                     note=request.POST.get("note", "")[:500],
                                                     correlation_id=request.correlation_id)
                    messages.success(request, f"Saved as version {created.version}.")
                    return redirect(here)
                last = _last(request.POST.get("last", ""))
                result = simulation.simulate(tenant_id=tenant_id, last=last, policy=selectors.policy_changed(
                    tenant_id=tenant_id, document=document))
            elif action == "accept":
                created = suggestions.suggestion_accept(
                    tenant_id=tenant_id, user=request.user, task_type=request.POST.get("task_type", ""),
                    rule=_json_field(request.POST.get("rule", ""), "rule"), correlation_id=request.correlation_id)
                messages.success(request, f"Accepted: the policy is now version {created.version}.")
                return redirect(here)
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
        found = suggestions.suggestions_for(tenant_id=tenant_id)
        for suggestion in found:
            suggestion["rule_json"] = json.dumps(suggestion["rule"])
        return TemplateResponse(request, "admin/governance/policy.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Policy",
            "version": version, "policy_text": text, "last": last, "simulation": result, "is_admin": is_admin,
            "suggestions": found, "decisions_url": reverse("admin:governance_decisionrecord_changelist")})
