"""The approver's inbox in headless Chromium, at desktop width and at a phone's 390 px: each role's
home page, the escalation page, a queue of three decided in a row through the "next" flow, a tool call
edited and approved, and a person who may not decide. Every page is saved as a screenshot in
artifacts/screenshots/ (or $EMMA_SCREENSHOTS), the folder CI keeps."""

import base64
import os
from pathlib import Path

import pytest
from django.urls import reverse

from emma.models import AgentTask
from governance.models import Escalation

from .conftest import PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("EMMA_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "artifacts" / "screenshots")
PHONE = (390, 844)
DESKTOP = (1280, 900)


def detail_url(escalation_id) -> str:
    return reverse("admin:governance_escalation_change", args=[escalation_id])


def by(selector):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, selector


def wait_for(browser, selector):
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(by(selector)))


def viewport(browser, size):
    """Emulate a device of this CSS size (a phone is a mobile viewport, as the admin's meta tag expects)."""
    width, height = size
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def screenshot(browser, name, whole_page=True):
    """The whole page, beyond the viewport (or just what the screen shows), as a PNG in the screenshots
    folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options = {"format": "png"}
    if whole_page:
        size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        options.update(captureBeyondViewport=True,
                       clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", options)
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def log_in(browser, live_server, user, size=DESKTOP):
    viewport(browser, size)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(*by("#id_username")).send_keys(user.username)
    browser.find_element(*by("#id_password")).send_keys(PASSWORD)
    browser.find_element(*by("#login-form input[type=submit]")).click()
    return wait_for(browser, "#user-tools")  # signed in: the login page has a #content-main of its own


def in_first_screen(browser, selector) -> bool:
    """The element is on the page as it opens: no scrolling needed to see it."""
    return browser.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;", selector)


def fits_the_width(browser) -> bool:
    """Nothing sticks out sideways (a phone would zoom the whole page out to show it)."""
    content = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["width"]
    return content <= browser.execute_script("return window.innerWidth")


def decide(browser, button_id, reason):
    """Type a reason and press a decision button; the page that follows."""
    browser.find_element(*by("#id_reason")).send_keys(reason)
    button = browser.find_element(*by(f"#{button_id}"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_):
        try:
            button.is_enabled()
            return False
        except WebDriverException:  # stale; or, mid-navigation, Chrome's "node does not belong to the document"
            return True

    WebDriverWait(browser, 10).until(gone)  # the next page, not this one's message
    return wait_for(browser, ".messagelist li").text


@pytest.fixture(autouse=True)
def desktop_afterwards(admin_browser):
    yield
    admin_browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_an_approver_goes_from_home_through_a_queue_of_three(admin_browser, live_server, make_user, submit_escalated):
    carol = make_user("carol", role="approver")
    first = submit_escalated(description="Summarise the quarterly report", text="the quarterly report")
    second = submit_escalated(description="Email the customers", text="the customers")
    third = submit_escalated(description="Order laptops", text="laptops")
    log_in(admin_browser, live_server, carol)

    waiting = admin_browser.find_element(*by("#panel-waiting")).text
    assert "Waiting for you 3" in waiting and "alice wants to echo “the quarterly report”" in waiting
    screenshot(admin_browser, "home-approver")
    admin_browser.find_element(*by("#open-first")).click()  # one click from the landing page
    wait_for(admin_browser, "#decision-form")

    assert admin_browser.current_url.endswith(detail_url(first.escalation_id))
    for selector in ("#decision-summary", "#fact-deadline", "#approve-button", "#reject-button"):
        assert in_first_screen(admin_browser, selector), f"{selector} is seen without scrolling"
    assert "1 of 3 waiting for you" in admin_browser.find_element(*by("#queue-position")).text
    screenshot(admin_browser, "escalation-desktop")
    screenshot(admin_browser, "escalation-first-screen", whole_page=False)

    assert decide(admin_browser, "approve-button", "within budget") == \
        "Approved: the task is queued. Next: 2 more waiting for you."
    assert admin_browser.current_url.endswith(detail_url(second.escalation_id))
    assert decide(admin_browser, "reject-button", "no mass email") == \
        "Rejected: the task will not run. Next: 1 more waiting for you."
    assert admin_browser.current_url.endswith(detail_url(third.escalation_id))
    assert decide(admin_browser, "approve-button", "needed") == \
        "Approved: the task is queued. Nothing else is waiting for you."
    assert admin_browser.current_url.endswith("/admin/")
    assert "Decided by you today 3" in admin_browser.find_element(*by("#panel-decided-today")).text
    statuses = {e.task_id: (e.status, e.decided_by_id) for e in Escalation.objects.all()}
    assert statuses == {first.task.pk: ("approved", carol.pk), second.task.pk: ("rejected", carol.pk),
                        third.task.pk: ("approved", carol.pk)}
    assert AgentTask.objects.get(pk=second.task.pk).status == AgentTask.Status.REJECTED


def test_at_phone_width_the_home_the_list_and_the_page_fit(admin_browser, live_server, make_user, submit_escalated):
    carol = make_user("carol", role="approver")
    first = submit_escalated(description="Summarise the quarterly report", text="the quarterly report")
    submit_escalated(description="Email the customers", text="the customers")
    log_in(admin_browser, live_server, carol, PHONE)

    assert admin_browser.execute_script("return window.innerWidth") == PHONE[0]
    assert fits_the_width(admin_browser) and in_first_screen(admin_browser, "#open-first")
    screenshot(admin_browser, "home-approver-phone")

    admin_browser.get(f"{live_server.url}{reverse('admin:governance_escalation_changelist')}")
    wait_for(admin_browser, "#result_list")
    assert fits_the_width(admin_browser), "the list's narrow columns give way on a phone"
    assert len(admin_browser.find_elements(*by("#result_list tbody tr"))) == 2
    screenshot(admin_browser, "queue-phone")

    admin_browser.find_element(*by("#result_list tbody tr a")).click()
    wait_for(admin_browser, "#decision-form")
    assert fits_the_width(admin_browser) and in_first_screen(admin_browser, "#summary-headline")
    screenshot(admin_browser, "escalation-phone")
    assert decide(admin_browser, "approve-button", "fine on the go").startswith("Approved: the task is queued.")
    assert Escalation.objects.get(pk=first.escalation_id).status == "approved"


def test_a_tool_call_is_edited_and_approved(admin_browser, live_server, acme, fake_llm, settings, committed,
                                           monkeypatch):
    from emma import services

    # The run's steps are taken here, never by a worker of the session (which has no loopback model).
    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)
    settings.LLM_MODEL = "loopback-model"
    acme.set_policy(rules={"agent.run": "allow", "tool:diagnostic.echo": "escalate"})
    fake_llm.reply(text="I will announce it.", tool_calls=[("diagnostic.echo", {"text": "Launch on Friday"})])
    task_id = acme.submit(task_type="agent.run", parameters={"instructions": "Announce the launch."})["task_id"]
    with committed():
        services.task_execute(task_id=task_id)
    escalation = Escalation.objects.get(task_id=task_id, status="open")
    log_in(admin_browser, live_server, acme.approver)
    admin_browser.get(f"{live_server.url}{detail_url(escalation.pk)}")
    wait_for(admin_browser, "#decision-form")

    headline = admin_browser.find_element(*by("#summary-headline")).text
    assert headline == "acme-submitter's agent run, step 2, wants to echo “Launch on Friday”."
    assert "I will announce it." in admin_browser.find_element(*by("#run-transcript")).text
    admin_browser.find_element(*by("#edit-arguments summary")).click()
    arguments = admin_browser.find_element(*by("#id_arguments"))
    arguments.clear()
    arguments.send_keys('{"text": "Launch on Monday"}')
    screenshot(admin_browser, "tool-call-edited")
    message = decide(admin_browser, "approve-button", "the date moved")

    assert message.startswith("Approved: the agent's call runs and the run goes on.")
    decided = Escalation.objects.get(pk=escalation.pk)
    assert (decided.status, decided.decision_arguments) == ("approved", {"text": "Launch on Monday"})


def test_a_person_who_may_not_decide_sees_no_decision_box(admin_browser, live_server, make_user, submit_escalated):
    carol = make_user("carol", role="approver")
    own = submit_escalated(carol, description="Carol's own purchase")
    log_in(admin_browser, live_server, carol)
    admin_browser.get(f"{live_server.url}{detail_url(own.escalation_id)}")
    wait_for(admin_browser, "#decision-summary")

    assert admin_browser.find_elements(*by("#decision-form")) == []
    assert "four-eyes" in admin_browser.find_element(*by("#decision-refused")).text
    screenshot(admin_browser, "escalation-not-yours")


def test_the_decision_controls_are_labelled_and_reachable_by_keyboard(admin_browser, live_server, make_user,
                                                                      submit_escalated):
    from selenium.webdriver.common.keys import Keys

    carol = make_user("carol", role="approver")
    result = submit_escalated()
    log_in(admin_browser, live_server, carol)
    admin_browser.get(f"{live_server.url}{detail_url(result.escalation_id)}")
    wait_for(admin_browser, "#decision-form")

    assert admin_browser.execute_script(
        "return [...document.querySelectorAll('#decision-form textarea, #decision-form input:not([type=hidden])')]"
        ".every(control => control.labels.length > 0)")
    reason = admin_browser.find_element(*by("#id_reason"))
    reason.send_keys("checked by keyboard")
    reason.send_keys(Keys.TAB)
    assert admin_browser.switch_to.active_element.get_attribute("id") == "approve-button"
    admin_browser.switch_to.active_element.send_keys(Keys.TAB)
    assert admin_browser.switch_to.active_element.get_attribute("id") == "reject-button"
    admin_browser.switch_to.active_element.send_keys(Keys.ENTER)

    assert wait_for(admin_browser, ".messagelist li").text.startswith("Rejected: the task will not run.")
    assert Escalation.objects.get(pk=result.escalation_id).decision_reason == "checked by keyboard"


def test_an_empty_reason_shows_the_error(admin_browser, live_server, make_user, submit_escalated):
    carol = make_user("carol", role="approver")
    result = submit_escalated()
    log_in(admin_browser, live_server, carol)
    admin_browser.get(f"{live_server.url}{detail_url(result.escalation_id)}")
    wait_for(admin_browser, "#decision-form")
    admin_browser.find_element(*by("#approve-button")).click()
    assert admin_browser.execute_script("return document.getElementById('id_reason').validity.valueMissing"), \
        "the browser asks for a reason first"
    admin_browser.find_element(*by("#id_reason")).send_keys("   ")
    # Past the browser's own check of the required field, to the server's.
    admin_browser.execute_script("document.getElementById('id_reason').removeAttribute('required')")
    admin_browser.find_element(*by("#approve-button")).click()

    assert wait_for(admin_browser, ".messagelist li.error").text == "A reason is required."
    assert Escalation.objects.get(pk=result.escalation_id).status == "open"


def test_a_tenant_admin_and_a_submitter_each_land_on_their_home(admin_browser, live_server, make_user,
                                                                 submit_escalated, committed):
    from governance import services as governance

    ada = make_user("ada", role="admin")
    alice = make_user("alice", role="submitter")
    decided = submit_escalated(alice, description="Summarise the quarterly report")
    with committed():
        governance.escalation_approve(escalation_id=decided.escalation_id, user=ada, reason="fine")
    submit_escalated(alice, description="Email every customer")
    log_in(admin_browser, live_server, ada)

    for panel in ("#panel-waiting", "#panel-tasks-24h", "#panel-budget", "#panel-groups", "#panel-channels",
                  "#panel-backup", "#panel-decisions", "#manage-links"):
        assert admin_browser.find_element(*by(panel)).is_displayed(), panel
    assert "Tasks per hour, last 24 hours (UTC): 2 in all" in admin_browser.find_element(*by("#panel-tasks-24h")).text
    screenshot(admin_browser, "home-tenant-admin")

    admin_browser.delete_all_cookies()
    log_in(admin_browser, live_server, alice)
    tasks = admin_browser.find_element(*by("#panel-your-tasks")).text
    assert "Summarise the quarterly report" in tasks and "Email every customer" in tasks
    assert admin_browser.find_elements(*by("#panel-waiting")) == []
    assert "Escalations" not in admin_browser.find_element(*by("#content-main")).text, "a submitter has no queue"
    screenshot(admin_browser, "home-submitter")


def test_a_two_person_approval_completes_in_the_admin(admin_browser, live_server, make_user, submit_escalated,
                                                      acme_policy):
    """Two approvers each decide on the same page: the first sees "1 of 2 approvals", the second completes it."""
    acme_policy(ladder=[{"group": "", "timeout_seconds": 3600, "quorum": 2}])
    carol, dave = make_user("carol", role="approver"), make_user("dave", role="approver")
    submitted = submit_escalated(description="Wire the deposit", text="the deposit")
    log_in(admin_browser, live_server, carol)
    admin_browser.get(f"{live_server.url}{detail_url(submitted.escalation_id)}")
    assert "0 of 2 approvals" in wait_for(admin_browser, "#fact-quorum").text
    assert decide(admin_browser, "approve-button", "checked the account") == (
        "Your answer is recorded: 1 of 2 approvals; it is decided once enough approvers answer. "
        "Nothing else is waiting for you.")
    admin_browser.get(f"{live_server.url}{detail_url(submitted.escalation_id)}")
    assert "carol approved this tier already" in wait_for(admin_browser, "#decision-answered").text
    screenshot(admin_browser, "escalation-quorum-one-of-two")

    admin_browser.delete_all_cookies()
    log_in(admin_browser, live_server, dave)
    admin_browser.get(f"{live_server.url}{detail_url(submitted.escalation_id)}")
    assert "carol approved via admin" in wait_for(admin_browser, "#fact-quorum").text
    assert decide(admin_browser, "approve-button", "second pair of eyes").startswith("Approved: the task is queued.")
    escalation = Escalation.objects.get(pk=submitted.escalation_id)
    assert (escalation.status, escalation.decided_by, escalation.approvals) == ("approved", dave, 2)
    # Queued, and committed by the live server: the session's worker may have run it already.
    assert AgentTask.objects.get(pk=submitted.task.pk).status in ("queued", "running", "succeeded")


def test_an_admin_simulates_a_stricter_policy_and_accepts_a_suggestion(admin_browser, live_server, make_user,
                                                                       submit_escalated, acme_policy):
    from governance import services as governance

    acme_policy(suggest_after=4)
    carol, dave = make_user("carol", role="approver"), make_user("dave", role="approver")
    for n in range(4):
        submitted = submit_escalated(description=f"Echo {n}", text=f"echo {n}", cost=str(20 + n))
        governance.escalation_approve(escalation_id=submitted.escalation_id, user=(carol, dave)[n % 2],
                                      reason="routine")
    boss = make_user("boss", role="admin")
    log_in(admin_browser, live_server, boss)
    admin_browser.get(f"{live_server.url}{reverse('admin:governance_escalation_changelist')}")
    admin_browser.find_element(*by("#escalation-links a")).click()
    assert "diagnostic.echo: allow below 23.0" in wait_for(admin_browser, "#suggestions").text

    box = admin_browser.find_element(*by("#id_policy"))
    admin_browser.execute_script("arguments[0].value = arguments[1]", box, '{"hard_cost_limit": 21}')
    admin_browser.find_element(*by("#simulate")).click()
    simulation = wait_for(admin_browser, "#simulation").text
    assert "escalate→deny" in simulation and "Decided differently 2" in simulation
    screenshot(admin_browser, "policy-simulation")

    admin_browser.find_element(*by(".accept-suggestion button")).click()
    assert wait_for(admin_browser, ".messagelist li").text == "Accepted: the policy is now version 2."
    from governance.selectors import policy_current

    assert policy_current(tenant_id=boss.memberships.get().tenant_id)[0]["rules"] == {
        "diagnostic.echo": {"allow_below": 23.0}}
