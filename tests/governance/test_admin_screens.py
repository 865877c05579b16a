"""The admin approval screens: the tenant's queue, the escalation page, decisions (one and in bulk)
through the governance services, and who may see and do what. The same flows in headless Chromium are
in test_admin_browser.py; the home pages in test_admin_home.py."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from core import services as core_services
from emma.models import AgentTask
from governance import services as governance
from governance.models import Escalation

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "/admin/governance/escalation/"


def detail_url(escalation_id) -> str:
    return reverse("admin:governance_escalation_change", args=[escalation_id])


def decide_url(escalation_id) -> str:
    return reverse("admin:governance_escalation_decide", args=[escalation_id])


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def carol(make_user):
    return make_user("carol", role="approver")


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_opens_on_what_waits_for_me_in_one_line_each(client, make_user, carol, submit_escalated):
    open_one = submit_escalated(text="hello").escalation_id
    decided = submit_escalated(description="Decided already").escalation_id
    governance.escalation_approve(escalation_id=decided, user=make_user("dave", role="approver"), reason="fine")
    own = submit_escalated(carol, description="Carol's own").escalation_id
    foreign = submit_escalated(make_user("bob", tenant="globex")).escalation_id

    response = logged_in(client, carol).get(QUEUE)

    assert response.status_code == 200
    assert [str(e.pk) for e in response.context["cl"].result_list] == [open_one], "not her own, not decided"
    body = response.content.decode()
    assert "alice wants to echo “hello”" in body, "the one-line summary"
    assert re.search(r"1[45] minutes", body), "time left is shown"
    open_ones = client.get(QUEUE, {"status": "open"}).context["cl"].result_list
    assert {str(e.pk) for e in open_ones} == {open_one, own}
    everything = client.get(QUEUE, {"status": "all"}).context["cl"].result_list
    assert {str(e.pk) for e in everything} == {open_one, decided, own}
    assert foreign not in body


def test_a_superuser_sees_every_tenants_queue(client, make_user, submit_escalated):
    ours, theirs = submit_escalated().escalation_id, submit_escalated(make_user("bob", tenant="globex")).escalation_id
    root = core_services.user_upsert(username="root", password=PASSWORD, tenant_slug="ops", role="admin", is_superuser=True)

    response = logged_in(client, root).get(QUEUE)

    assert {str(e.pk) for e in response.context["cl"].result_list} == {ours, theirs}


def test_queue_search_and_time_left_overdue(client, carol, submit_escalated):
    escalation_id = submit_escalated(description="Reconcile the ledger").escalation_id
    submit_escalated(description="Something else")
    Escalation.objects.filter(pk=escalation_id).update(deadline="2000-01-01T00:00:00Z")

    response = logged_in(client, carol).get(QUEUE, {"q": "ledger", "status": "open"})

    assert [str(e.pk) for e in response.context["cl"].result_list] == [escalation_id]
    assert "overdue" in response.content.decode()


# --- deciding on the detail page ----------------------------------------------------------------


def test_approving_from_the_detail_page_queues_the_task(client, carol, submit_escalated, committed):
    result = submit_escalated(text="hello", depth=2)
    page = logged_in(client, carol).get(detail_url(result.escalation_id))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="approve-button"' in body and 'id="reject-button"' in body and 'name="reason"' in body
    assert "&quot;depth&quot;: 2" in body, "the parameters are shown as JSON"
    assert 'class="task-event"' in body, "the task's status history is shown"

    with committed():
        response = client.post(decide_url(result.escalation_id), {"decision": "approve", "reason": "looks fine"},
                               follow=True)

    assert shown_messages(response) == ["Approved: the task is queued. Nothing else is waiting for you."]
    assert response.redirect_chain[-1][0] == reverse("admin:index"), "the queue is empty: home"
    escalation = Escalation.objects.get(pk=result.escalation_id)
    assert (escalation.status, escalation.decided_by, escalation.decision_channel) == ("approved", carol, "admin")
    assert escalation.decision_reason == "looks fine"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.QUEUED


def test_rejecting_from_the_detail_page_rejects_the_task(client, carol, submit_escalated, committed):
    result = submit_escalated()

    with committed():
        response = logged_in(client, carol).post(decide_url(result.escalation_id),
                                                 {"decision": "reject", "reason": "too expensive"}, follow=True)

    assert shown_messages(response) == ["Rejected: the task will not run. Nothing else is waiting for you."]
    assert Escalation.objects.get(pk=result.escalation_id).status == "rejected"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.REJECTED


def test_a_decision_without_a_reason_changes_nothing(client, carol, submit_escalated):
    result = submit_escalated()

    response = logged_in(client, carol).post(decide_url(result.escalation_id), {"decision": "approve", "reason": " "},
                                             follow=True)

    assert response.redirect_chain[-1][0] == detail_url(result.escalation_id)
    assert shown_messages(response) == ["A reason is required."]
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.PENDING_APPROVAL


def test_a_reason_with_a_nul_character_is_refused_not_a_500(client, carol, submit_escalated):
    result = submit_escalated()

    response = logged_in(client, carol).post(decide_url(result.escalation_id),
                                             {"decision": "approve", "reason": "fine\x00"}, follow=True)

    assert shown_messages(response) == ["NUL characters are not accepted."]
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"


def test_a_decision_needs_the_csrf_token(carol, submit_escalated):
    escalation_id = submit_escalated().escalation_id
    client = logged_in(Client(enforce_csrf_checks=True), carol)

    response = client.post(decide_url(escalation_id), {"decision": "approve", "reason": "forged"})

    assert response.status_code == 403
    assert Escalation.objects.get(pk=escalation_id).status == "open"


def test_the_decide_url_only_accepts_post(client, carol, submit_escalated):
    assert logged_in(client, carol).get(decide_url(submit_escalated().escalation_id)).status_code == 405


def test_a_decision_leads_to_the_next_escalation_waiting(client, carol, submit_escalated, committed):
    first, second, third = (submit_escalated(description=f"Task {n}").escalation_id for n in range(3))
    logged_in(client, carol)
    page = client.get(detail_url(first)).content.decode()
    assert "1 of 3 waiting for you" in page and f'href="{detail_url(second)}" id="skip-link"' in page

    with committed():
        response = client.post(decide_url(first), {"decision": "approve", "reason": "ok"}, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(second)
    assert shown_messages(response) == ["Approved: the task is queued. Next: 2 more waiting for you."]
    assert "1 of 2 waiting for you" in response.content.decode()

    with committed():
        response = client.post(decide_url(second), {"decision": "reject", "reason": "no"}, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(third)
    with committed():
        response = client.post(decide_url(third), {"decision": "approve", "reason": "ok"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert [e.status for e in Escalation.objects.order_by("created_at")] == ["approved", "rejected", "approved"]


def test_the_page_puts_what_will_happen_and_the_decision_first(client, make_user, carol, acme_policy):
    from decimal import Decimal

    from django.utils import timezone

    from emma import services as tasks
    from governance.models import DailyUsage

    acme_policy(daily_budget=100, ladder=[{"group": "", "timeout_seconds": 600},
                                         {"group": "finance", "timeout_seconds": 600}])
    sam = make_user("sam", role="submitter")
    result = tasks.task_submit(user=sam, task_type="webhook.post", description="Tell the CRM",
                               parameters={"url": "https://crm.example.com/hooks/deal", "body": {"deal": 42}},
                               estimated_cost=Decimal("30"), channel="slack")
    DailyUsage.objects.update_or_create(tenant_id=sam.memberships.get().tenant_id, day=timezone.now().date(),
                                        defaults={"committed": Decimal("80")})

    body = logged_in(client, carol).get(detail_url(result.escalation_id)).content.decode()

    assert "<strong>sam</strong> wants to POST to crm.example.com." in body
    assert "https://crm.example.com/hooks/deal" in body and "&quot;deal&quot;: 42" in body, "the body it will send"
    assert "30.00 estimated; 20.00 of the daily budget of 100.00 left today; approving it goes over the budget" in body
    assert "over the threshold" in body, "why, in the policy's words"
    assert re.search(r"(9|10) minutes left .*Then it moves to tier 1 \(finance\)", body)
    assert "via slack" in body
    order = [body.index(marker) for marker in ('id="decision-summary"', 'id="decision-facts"', 'id="decision-form"',
                                              'id="task-history"')]
    assert order == sorted(order), "summary, facts, decision, then the history"


def test_a_summary_never_breaks_the_page(client, carol, submit_escalated):
    """A registered headline that cannot read odd arguments falls back to the name and the JSON."""
    escalation_id = submit_escalated(unexpected={"x": 1}).escalation_id  # diagnostic.echo without "text"
    Escalation.objects.filter(pk=escalation_id).update(task_type="webhook.post", parameters={"no_url": True})

    page = logged_in(client, carol).get(detail_url(escalation_id))

    assert page.status_code == 200
    assert "wants to run webhook.post" in page.content.decode()


def test_the_queue_filters_by_type_tool_requester_tier_group_and_channel(client, make_user, carol, submit_escalated):
    alice, bob = make_user("alice"), make_user("bob")
    by_alice = submit_escalated(alice).escalation_id
    by_bob = submit_escalated(bob, description="Bob's").escalation_id
    Escalation.objects.filter(pk=by_bob).update(channel="sms", tier=1, tool="http_get", step=3)
    submit_escalated(make_user("eve", tenant="globex"))
    logged_in(client, carol)

    def listed(**query):
        return {str(e.pk) for e in client.get(QUEUE, query).context["cl"].result_list}

    assert listed() == {by_alice, by_bob}
    assert listed(requester__id__exact=bob.pk) == {by_bob}
    assert listed(channel="sms") == {by_bob} and listed(channel="api") == {by_alice}
    assert listed(tier__exact=1) == {by_bob}
    assert listed(tool="http_get") == {by_bob}
    assert listed(task_type="diagnostic.echo") == {by_alice, by_bob}
    assert listed(q="bob") == {by_bob}
    requester_choices = client.get(QUEUE).context["cl"].filter_specs[3].lookup_choices
    assert {name for _, name in requester_choices} == {"alice", "bob"}, "no user of another tenant is offered"


def test_what_waits_for_a_person_is_exactly_what_they_may_decide(make_user, carol, submit_escalated):
    """The queue's query and the service's rules (tenant, role, the tier's group, four-eyes) agree."""
    from django.contrib.auth.models import Group

    from core.models import Membership
    from governance import selectors

    finance = Group.objects.create(name="finance")
    frank = make_user("frank", role="approver")
    frank.groups.add(finance)
    ada = make_user("ada", role="admin")
    escalations = [submit_escalated().escalation_id, submit_escalated(carol).escalation_id,
                   submit_escalated(frank).escalation_id, submit_escalated(make_user("eve", tenant="globex")).escalation_id]
    for group, escalation_id in zip(["finance", "finance", "legal"], escalations, strict=False):
        submitted = Escalation.objects.get(pk=escalation_id)
        submitted.approver_group = group
        submitted.save()
    submit_escalated(description="any approver")
    Escalation.objects.filter(pk=submit_escalated(description="overdue").escalation_id).update(
        deadline="2000-01-01T00:00:00Z")

    for person in (carol, frank, ada, make_user("alice"), make_user("eve", tenant="globex", role="admin")):
        membership = Membership.objects.get(user=person)
        waiting = set(selectors.escalations_waiting_for(user=person, membership=membership))
        may = {e for e in Escalation.objects.filter(status="open", deadline__gt="2001-01-01T00:00:00Z")
               if governance.escalation_refusal(e, person) is None}
        assert waiting == may, person.username


# --- who may look and decide --------------------------------------------------------------------


def test_a_submitter_sees_no_queue_and_cannot_decide(client, make_user, submit_escalated):
    alice = make_user("alice", role="submitter")
    result = submit_escalated(alice)
    logged_in(client, alice)

    home = client.get(reverse("admin:index")).content.decode()
    assert "Your recent tasks" in home and 'id="panel-waiting"' not in home
    assert QUEUE not in home, "no link to the queue"
    for response in (client.get(QUEUE), client.get(detail_url(result.escalation_id)),
                     client.post(decide_url(result.escalation_id), {"decision": "approve", "reason": "mine"})):
        assert response.status_code == 403
        assert "text/html" in response["Content-Type"], "a person in the admin gets a page, not JSON"
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"


def test_an_approver_of_another_tenant_can_neither_see_nor_decide(client, make_user, submit_escalated):
    result = submit_escalated()
    logged_in(client, make_user("bob", tenant="globex", role="approver"))

    page = client.get(detail_url(result.escalation_id))
    response = client.post(decide_url(result.escalation_id), {"decision": "approve", "reason": "why not"})

    assert page.status_code == 302 and page["Location"] == reverse("admin:index")
    assert response.status_code == 302
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"


def test_the_requester_cannot_approve_their_own_task(client, carol, submit_escalated):
    result = submit_escalated(carol)
    page = logged_in(client, carol).get(detail_url(result.escalation_id))
    body = page.content.decode()
    assert 'id="approve-button"' not in body and 'id="reject-button"' not in body
    assert "four-eyes" in body

    response = client.post(decide_url(result.escalation_id), {"decision": "approve", "reason": "trust me"},
                           follow=True)

    assert shown_messages(response) == ["you may not decide on your own task (four-eyes rule)"]
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.PENDING_APPROVAL


def test_decided_escalations_show_no_buttons(client, make_user, carol, submit_escalated):
    escalation_id = submit_escalated().escalation_id
    governance.escalation_reject(escalation_id=escalation_id, user=make_user("dave", role="approver"), reason="no")

    body = logged_in(client, carol).get(detail_url(escalation_id)).content.decode()

    assert 'id="decided-note"' in body and "rejected" in body and "dave" in body
    assert 'id="approve-button"' not in body and 'id="reject-button"' not in body and 'name="reason"' not in body


# --- bulk decisions -----------------------------------------------------------------------------


def test_bulk_approve_asks_for_one_reason_and_approves_each_permitted(client, carol, submit_escalated, committed):
    permitted = [submit_escalated().escalation_id, submit_escalated(description="Second").escalation_id]
    own = submit_escalated(carol, description="Carol's own").escalation_id
    selection = {"action": "approve_selected", "_selected_action": [*permitted, own]}
    logged_in(client, carol)
    open_ones = f"{QUEUE}?status=open"  # her own shows here, not among those waiting for her

    confirm = client.post(open_ones, {**selection, "index": 0})
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    without_reason = client.post(open_ones, {**selection, "confirm": "yes", "reason": ""})
    assert 'id="reason-error"' in without_reason.content.decode()
    assert Escalation.objects.filter(status="open").count() == 3

    with committed():
        response = client.post(open_ones, {**selection, "confirm": "yes", "reason": "batch ok"}, follow=True)

    assert shown_messages(response) == [
        "Approved 2 of 3 escalations.",
        "Not approved: diagnostic.echo from carol: you may not decide on your own task (four-eyes rule)"]
    approved = Escalation.objects.filter(status="approved", decided_by=carol).values_list("pk", flat=True)
    assert set(map(str, approved)) == set(permitted)
    assert Escalation.objects.get(pk=own).status == "open"
    assert AgentTask.objects.filter(status=AgentTask.Status.QUEUED).count() == 2


# --- the other read-only screens ----------------------------------------------------------------


def test_task_audit_and_policy_screens_are_read_only_and_scoped(client, make_user, carol, submit_escalated):
    result = submit_escalated()
    submit_escalated(make_user("bob", tenant="globex"))
    admin = make_user("ada", role="admin")
    logged_in(client, admin)

    tasks = client.get("/admin/emma/agenttask/")
    assert [t.pk for t in tasks.context["cl"].result_list] == [result.task.pk]
    task_page = client.get(reverse("admin:emma_agenttask_change", args=[result.task.pk])).content.decode()
    assert "pending_approval" in task_page and "Save" not in task_page
    audit = client.get("/admin/governance/auditevent/")
    assert {e.action for e in audit.context["cl"].result_list} == {"task.submitted", "escalation.opened"}
    assert client.get("/admin/governance/auditevent/add/").status_code == 403
    assert client.get("/admin/core/configversion/").status_code == 200
    assert logged_in(client, carol).get("/admin/governance/auditevent/").status_code == 403, "tenant admins only"


