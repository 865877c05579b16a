"""The admin approval screens: the tenant's pending queue, the read-only detail page, decisions (one
and in bulk) through the governance services, and the same flows in headless Chromium."""

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


def test_queue_lists_only_the_tenants_open_escalations(client, make_user, carol, submit_escalated):
    open_one = submit_escalated().escalation_id
    decided = submit_escalated(description="Decided already").escalation_id
    governance.escalation_approve(escalation_id=decided, user=make_user("dave", role="approver"), reason="fine")
    foreign = submit_escalated(make_user("bob", tenant="globex")).escalation_id

    response = logged_in(client, carol).get(QUEUE)

    assert response.status_code == 200
    assert [str(e.pk) for e in response.context["cl"].result_list] == [open_one]
    body = response.content.decode()
    assert Escalation.objects.get(pk=open_one).reasons[0][:40] in body
    assert re.search(r"1[45]\xa0minutes", body), "time left is shown"
    everything = logged_in(client, carol).get(QUEUE, {"status": "all"}).context["cl"].result_list
    assert {str(e.pk) for e in everything} == {open_one, decided}
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

    response = logged_in(client, carol).get(QUEUE, {"q": "ledger"})

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

    assert shown_messages(response) == ["Approved: the task is queued."]
    escalation = Escalation.objects.get(pk=result.escalation_id)
    assert (escalation.status, escalation.decided_by, escalation.decision_channel) == ("approved", carol, "admin")
    assert escalation.decision_reason == "looks fine"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.QUEUED


def test_rejecting_from_the_detail_page_rejects_the_task(client, carol, submit_escalated, committed):
    result = submit_escalated()

    with committed():
        response = logged_in(client, carol).post(decide_url(result.escalation_id),
                                                 {"decision": "reject", "reason": "too expensive"}, follow=True)

    assert shown_messages(response) == ["Rejected: the task will not run."]
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


def test_a_decision_needs_the_csrf_token(carol, submit_escalated):
    escalation_id = submit_escalated().escalation_id
    client = logged_in(Client(enforce_csrf_checks=True), carol)

    response = client.post(decide_url(escalation_id), {"decision": "approve", "reason": "forged"})

    assert response.status_code == 403
    assert Escalation.objects.get(pk=escalation_id).status == "open"


def test_the_decide_url_only_accepts_post(client, carol, submit_escalated):
    assert logged_in(client, carol).get(decide_url(submit_escalated().escalation_id)).status_code == 405


# --- who may look and decide --------------------------------------------------------------------


def test_a_submitter_cannot_reach_the_admin(client, make_user, submit_escalated):
    alice = make_user("alice", role="submitter")
    result = submit_escalated(alice)
    logged_in(client, alice)

    for response in (client.get(QUEUE), client.get(detail_url(result.escalation_id)),
                     client.post(decide_url(result.escalation_id), {"decision": "approve", "reason": "mine"})):
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
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

    confirm = client.post(QUEUE, {**selection, "index": 0})
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    without_reason = client.post(QUEUE, {**selection, "confirm": "yes", "reason": ""})
    assert 'id="reason-error"' in without_reason.content.decode()
    assert Escalation.objects.filter(status="open").count() == 3

    with committed():
        response = client.post(QUEUE, {**selection, "confirm": "yes", "reason": "batch ok"}, follow=True)

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
    assert client.get("/admin/governance/policyversion/").status_code == 200
    assert logged_in(client, carol).get("/admin/governance/auditevent/").status_code == 403, "tenant admins only"


# --- in the browser -----------------------------------------------------------------------------


def browser_login(browser, live_server, user, next_path=QUEUE):
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/login/?next={next_path}")
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form input[type=submit]").click()
    wait_for_page(browser, "#result_list" if next_path == QUEUE else "#content-main")


def wait_for_page(browser, selector):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector))
    return WebDriverWait(browser, 10).until(located)


def screenshot(browser, path):
    """The whole page, not just the window."""
    size = browser.get_window_size()
    browser.set_window_size(size["width"], browser.execute_script("return document.documentElement.scrollHeight") + 140)
    browser.save_screenshot(path)
    browser.set_window_size(size["width"], size["height"])


def decide_in_browser(browser, button_id, reason):
    """Click the button with an empty reason (the browser asks for one), type the reason, submit."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, button_id).click()
    assert browser.execute_script("return document.getElementById('id_reason').validity.valueMissing")
    browser.find_element(By.NAME, "reason").send_keys(reason)
    browser.find_element(By.ID, button_id).click()
    return wait_for_page(browser, ".messagelist li").text


@pytest.mark.browser
def test_browser_an_approver_approves_and_rejects(admin_browser, live_server, carol, submit_escalated):
    from selenium.webdriver.common.by import By

    first = submit_escalated(description="Summarise the quarterly report")
    second = submit_escalated(description="Email every customer")
    browser_login(admin_browser, live_server, carol)

    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 2
    queue_text = admin_browser.find_element(By.ID, "result_list").text
    assert Escalation.objects.get(pk=first.escalation_id).reasons[0][:40] in queue_text
    assert re.search(r"1[45]\s+minutes", queue_text), queue_text
    screenshot(admin_browser, "/tmp/emma-admin-queue.png")

    admin_browser.find_element(By.CSS_SELECTOR, f'#result_list a[href$="{first.escalation_id}/change/"]').click()
    wait_for_page(admin_browser, "#decision-form")
    assert "Summarise the quarterly report" in admin_browser.find_element(By.ID, "content-main").text
    screenshot(admin_browser, "/tmp/emma-admin-detail.png")
    message = decide_in_browser(admin_browser, "approve-button", "within budget")

    assert message == "Approved: the task is queued."
    assert admin_browser.find_elements(By.ID, "approve-button") == []
    screenshot(admin_browser, "/tmp/emma-admin-approved.png")
    # Queued, and perhaps already run by a worker of the session.
    assert AgentTask.objects.get(pk=first.task.pk).status in ("queued", "running", "succeeded")
    assert Escalation.objects.get(pk=first.escalation_id).decided_by == carol

    admin_browser.get(f"{live_server.url}{detail_url(second.escalation_id)}")
    wait_for_page(admin_browser, "#decision-form")
    assert decide_in_browser(admin_browser, "reject-button", "no mass email") == "Rejected: the task will not run."
    assert AgentTask.objects.get(pk=second.task.pk).status == AgentTask.Status.REJECTED
    assert Escalation.objects.get(pk=second.escalation_id).decision_reason == "no mass email"


@pytest.mark.browser
def test_browser_an_empty_reason_shows_the_error(admin_browser, live_server, carol, submit_escalated):
    from selenium.webdriver.common.by import By

    result = submit_escalated()
    browser_login(admin_browser, live_server, carol, next_path=detail_url(result.escalation_id))
    admin_browser.find_element(By.NAME, "reason").send_keys("   ")
    # Past the browser's own check of the required field, to the server's.
    admin_browser.execute_script("document.getElementById('id_reason').removeAttribute('required')")
    admin_browser.find_element(By.ID, "approve-button").click()

    assert wait_for_page(admin_browser, ".messagelist li.error").text == "A reason is required."
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"
    assert AgentTask.objects.get(pk=result.task.pk).status == AgentTask.Status.PENDING_APPROVAL
