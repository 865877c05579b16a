"""The DORA metrics (integrations.dora.selectors, levels, api, metrics, admin, digest) on a month of synthetic
engineering events whose figures were computed by hand (see `history`).

The month: four ISO weeks, Monday 2024-03-04 to Sunday 2024-03-31 (UTC), three services in production.

api     deploys at 10:00 on Mar 4 6 8 | 11 13 15 | 18 20 22 | 25, one change each, lead 2 4 6 | 8 10 12 |
        14 16 18 | 20 hours; a failed deployment on Mar 29 (lead 1000 h: not counted, not successful)
web     deploys at 14:00 on Mar 5 (lead 5 h) | 12: names only the head of push p-w12, whose three changes
        have leads 30, 26, 22 h | 19: a change committed after the deployment (−1 h: ignored) | 26 (3 h), 28:
        ships the change of Mar 26 again (counted once) and a new one (1 h); plus a staging deployment (ignored)
worker  deploys at 16:00 on Mar 7 (40 h) | 14 (48 h) | 21 (0 h: ignored) | 27 (50 h)

Deployments: 10 + 5 + 4 = 19 successful production deployments; 19 / 4 weeks = 4.75 a week.
Deployment days per week: W10 {4,5,6,7,8} = 5, W11 {11..15} = 5, W12 {18..22} = 5, W13 {25,26,27,28} = 4;
median 5 ≥ 3 → Four Keys "daily"; ≥ 5 → elite (2021 and 2023).
Lead times (h), sorted: 1 2 3 4 5 6 8 10 12 14 16 18 20 22 26 30 40 48 50 → 19 values, median the 10th = 14 h
= 50400 s → 2023: < 1 day, elite; 2021: ≥ 1 hour and < 1 week, high.
Incidents: I1 api, opened Mar 13 12:00, root cause = the change of api's Mar 11 deployment → that deployment
(not the later Mar 13 one), resolved after 2 h; I2 web, opened Mar 20 09:00, nothing named → the latest web
deployment finished before (Mar 19), resolved after 6 h; I3 worker, opened Mar 28, names deployment
worker-0321 → that one (not Mar 27's), resolved after 24 h; a staging incident (ignored).
Change failure rate: 3 / 19 = 0.1579 → "16%": 2023 > 15 % → low; 2021 ≤ 20 % → high.
Time to restore: median of 2, 6, 24 h = 6 h = 21600 s → high (< 1 day) in both.
Overall (the lowest): 2023 low; 2021 high."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import signals
from integrations.dora import digest, levels, selectors
from integrations.dora.metrics import DoraCollector
from integrations.dora.models import DoraDigest, Incident
from integrations.dora.services import signals_store
from integrations.models import OutboundMessage

pytestmark = pytest.mark.django_db

START, END = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
HOUR = 3600


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def deploy(key, service, when, shas, *, status="success", environment="production", head=None):
    return signals.deployment(key=key, service=service, environment=environment, status=status,
                              sha=head or shas[0], shas=shas, started_at=when - timedelta(minutes=5),
                              finished_at=when, repository=f"acme/{service}")


def change(sha, committed, *, push="", repository="acme/app"):
    return signals.change(sha=sha, repository=repository, committed_at=committed, push=push, title=sha)


def history() -> list:
    """The month in the module's docstring, as the tools would have reported it."""
    events = []
    api_days = [4, 6, 8, 11, 13, 15, 18, 20, 22, 25]
    for day, lead in zip(api_days, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]):
        events += [change(f"a{day:02d}", at(day, 10) - timedelta(hours=lead)),
                   deploy(f"api-03{day:02d}", "api", at(day, 10), [f"a{day:02d}"])]
    events += [change("a29", at(29, 10) - timedelta(hours=1000)),
               deploy("api-0329", "api", at(29, 10), ["a29"], status="failure")]
    events += [change("w05", at(5, 14) - timedelta(hours=5)), deploy("web-0305", "web", at(5, 14), ["w05"]),
               change("w12a", at(12, 14) - timedelta(hours=30), push="p-w12"),
               change("w12b", at(12, 14) - timedelta(hours=26), push="p-w12"),
               change("w12c", at(12, 14) - timedelta(hours=22), push="p-w12"),
               deploy("web-0312", "web", at(12, 14), ["w12c"]),
               change("w19", at(19, 14) + timedelta(hours=1)), deploy("web-0319", "web", at(19, 14), ["w19"]),
               change("w26", at(26, 14) - timedelta(hours=3)), deploy("web-0326", "web", at(26, 14), ["w26"]),
               change("w28", at(28, 14) - timedelta(hours=1)),
               deploy("web-0328", "web", at(28, 14), ["w28", "w26"]),
               change("w10s", at(10, 14) - timedelta(hours=500)),
               deploy("web-0310-staging", "web", at(10, 14), ["w10s"], environment="staging")]
    for day, lead in zip([7, 14, 21, 27], [40, 48, 0, 50]):
        events += [change(f"k{day:02d}", at(day, 16) - timedelta(hours=lead)),
                   deploy(f"worker-03{day:02d}", "worker", at(day, 16), [f"k{day:02d}"])]
    events += [
        signals.incident(key="I1", service="api", opened_at=at(13, 12), resolved_at=at(13, 14), root_cause_sha="a11"),
        signals.incident(key="I2", service="web", opened_at=at(20, 9), resolved_at=at(20, 15)),
        signals.incident(key="I3", service="worker", opened_at=at(28), resolved_at=at(29),
                         deployment_key="worker-0321"),
        signals.incident(key="I4", service="api", opened_at=at(25), resolved_at=at(26), environment="staging"),
    ]
    return events


@pytest.fixture
def month(acme, globex, settings):
    """Acme's month; and globex's own few events, which reuse acme's sha `a11` and deployment key
    worker-0321 to catch any join that forgets the tenant."""
    settings.DORA_REPORT_YEAR = 2023
    signals_store(tenant_id=acme.tenant_id, provider="github", signals=history())
    signals_store(tenant_id=globex.tenant_id, provider="github", signals=[
        change("a11", at(10, 9)), deploy("api-0310", "api", at(10, 10), ["a11"]),
        signals.incident(key="G1", service="api", opened_at=at(15), resolved_at=at(15, 1),
                         deployment_key="worker-0321")])
    return acme


def acme_summary(acme, **kwargs):
    return selectors.summary(selectors.scope(tenant_id=acme.tenant_id, start=START, end=END), **kwargs)


# --- the figures ------------------------------------------------------------------------------------


def test_the_month_has_the_figures_computed_by_hand(month):
    figures = acme_summary(month)
    assert figures["counts"] == {"deployments": 19, "failed": 3, "changes": 19, "incidents": 3, "resolved": 3}
    assert figures["deployment_frequency"]["bucket"] == "daily"
    assert figures["deployment_frequency"]["per_week"] == 4.75
    assert figures["deployment_frequency"]["median_days_per_week"] == 5
    assert figures["lead_time"]["median_seconds"] == 14 * HOUR
    assert figures["lead_time"]["text"] == "14 hours"
    assert figures["change_failure_rate"]["rate"] == pytest.approx(3 / 19)
    assert figures["change_failure_rate"]["text"] == "16%"
    assert figures["time_to_restore"]["median_seconds"] == 6 * HOUR
    assert [figures[name]["level"] for name in ("deployment_frequency", "lead_time", "change_failure_rate",
                                                "time_to_restore")] == ["elite", "elite", "low", "high"]
    assert figures["overall"]["level"] == "low"


def test_the_weekly_series(month):
    weeks = acme_summary(month)["weekly"]
    assert [w["week"] for w in weeks] == ["2024-W10", "2024-W11", "2024-W12", "2024-W13"]
    assert [w["deployments"] for w in weeks] == [5, 5, 5, 4]
    assert [w["failed"] for w in weeks] == [0, 1, 2, 0]
    # W10: 2 4 5 6 40 → 5; W11: 8 10 12 22 26 30 48 → 22; W12: 14 16 18 → 16; W13: 1 3 20 50 → 11.5
    assert [w["median_lead_time_seconds"] for w in weeks] == [5 * HOUR, 22 * HOUR, 16 * HOUR, 11.5 * HOUR]
    assert [w["change_failure_rate"] for w in weeks] == [0, 0.2, 0.4, 0]
    assert [w["median_restore_seconds"] for w in weeks] == [None, 2 * HOUR, 6 * HOUR, 24 * HOUR]


def test_the_report_year_switch_changes_the_levels(month, settings):
    settings.DORA_REPORT_YEAR = 2021
    figures = acme_summary(month)
    assert figures["report_year"] == 2021
    assert figures["lead_time"]["level"] == "high"  # 14 h: elite under 2023 (< 1 day), high under 2021 (≥ 1 h)
    assert figures["change_failure_rate"]["level"] == "high"  # 16 %: low under 2023 (> 15 %), high under 2021
    assert figures["overall"]["level"] == "high"


def test_level_thresholds_at_their_edges():
    assert levels.change_failure_level(0.05, 2023) == "elite" and levels.change_failure_level(0.0501, 2023) == "high"
    assert levels.change_failure_level(0.15, 2021) == "elite" and levels.change_failure_level(0.31, 2021) == "low"
    assert levels.lead_time_level(HOUR - 1, 2021) == "elite" and levels.lead_time_level(HOUR, 2021) == "high"
    assert levels.lead_time_level(30 * 86400, 2023) == "low" and levels.lead_time_level(None, 2023) is None
    assert levels.restore_level(7 * 86400, 2023) == "low"
    freq = {"days_per_week": 0.0, "days_per_month": 1.0, "days_per_half_year": 3.0}
    assert levels.frequency_level(freq, 2023) == "medium" and levels.frequency_level(freq, 2021) == "high"
    with pytest.raises(ValueError):
        levels.report_year(2022)


def test_non_positive_lead_times_are_ignored(month):
    leads = {lt.sha: lt.seconds for lt in selectors.lead_times(selectors.deployments_in(
        selectors.scope(tenant_id=month.tenant_id, service="", start=START, end=END)))}
    assert "w19" not in leads and "k21" not in leads  # committed after, and at, the deployment
    assert leads["w26"] == 3 * HOUR  # shipped again on Mar 28: counted once, at its first deployment
    assert {leads[sha] for sha in ("w12a", "w12b", "w12c")} == {30 * HOUR, 26 * HOUR, 22 * HOUR}  # the push
    assert "a29" not in leads and "w10s" not in leads  # a failed deployment; staging
    assert len(leads) == 19


def test_incidents_are_linked_as_devlake_links_them(month):
    incidents = {i.pk: i.key for i in Incident.objects.filter(tenant_id=month.tenant_id)}
    links = {incidents[pk]: (d.key if d else None)
             for pk, d in selectors.incident_links(Incident.objects.filter(pk__in=incidents)).items()}
    assert links["I1"] == "api-0311"  # its root cause sha, not the later api deployment before it opened
    assert links["I2"] == "web-0319"  # the latest web deployment that finished before it opened
    assert links["I3"] == "worker-0321"  # the deployment it names, not the later worker deployment
    assert links["I4"] is None  # staging: no staging deployment of api


def test_a_service_filter_narrows_every_figure(month):
    figures = selectors.summary(selectors.scope(tenant_id=month.tenant_id, service="api", start=START, end=END))
    # api: 10 deployments, 1 linked (Mar 11); leads 2..20 h → median (10 + 12) / 2 = 11 h; I1 restored in 2 h
    assert figures["counts"] == {"deployments": 10, "failed": 1, "changes": 10, "incidents": 1, "resolved": 1}
    assert figures["lead_time"]["median_seconds"] == 11 * HOUR
    assert figures["change_failure_rate"]["rate"] == 0.1
    assert figures["time_to_restore"]["median_seconds"] == 2 * HOUR


def test_two_tenants_never_see_each_others_figures(month, globex):
    theirs = selectors.summary(selectors.scope(tenant_id=globex.tenant_id, start=START, end=END))
    # globex: one deployment (lead 1 h, its own commit time of a11), linked to its own incident by time: the
    # deployment key it names is acme's, which it must not reach.
    assert theirs["counts"] == {"deployments": 1, "failed": 1, "changes": 1, "incidents": 1, "resolved": 1}
    assert theirs["lead_time"]["median_seconds"] == HOUR
    assert acme_summary(month)["counts"]["deployments"] == 19


def test_no_data_has_no_figures_and_no_levels(acme):
    figures = acme_summary(acme)
    assert figures["deployment_frequency"]["bucket"] is None and figures["overall"]["level"] is None
    assert figures["lead_time"] == {"median_seconds": None, "text": "", "level": None}
    assert figures["change_failure_rate"]["rate"] is None


# --- the API ----------------------------------------------------------------------------------------

WINDOW = {"from": START.isoformat(), "to": END.isoformat()}


def test_the_summary_api_answers_any_member_with_their_tenants_figures(month, globex):
    body = month.submitter_api.get("/api/dora/summary", WINDOW).json()
    assert body["counts"]["deployments"] == 19 and body["lead_time"]["median_seconds"] == 14 * HOUR
    assert body["change_failure_rate"]["level"] == "low" and len(body["weekly"]) == 4
    theirs = globex.submitter_api.get("/api/dora/summary", WINDOW).json()
    assert theirs["counts"]["deployments"] == 1


@pytest.mark.parametrize("query", [{"from": "yesterday"}, {"from": END.isoformat(), "to": START.isoformat()},
                                   {"window": "12w"}, {"service": "x" * 201}, {"to": "2024-13-01T00:00:00Z"},
                                   {"environment": "prod\x00"}])
def test_bad_parameters_are_a_400(month, query):
    for path in ("/api/dora/summary", "/api/dora/deployments", "/api/dora/incidents"):
        response = month.admin_api.get(path, query)
        assert response.status_code == 400, (path, response.content)
        assert response.json()["error"]["code"] == "validation_error"


def test_the_deployments_list_is_paginated_and_says_what_each_counts_for(month):
    first = month.approver_api.get("/api/dora/deployments", {**WINDOW, "page_size": 5}).json()
    assert first["count"] == 20 and len(first["results"]) == 5 and first["next"]  # 19 successful, 1 failed
    rows = {}
    for page in range(1, 5):
        rows |= {row["key"]: row for row in month.approver_api.get(
            "/api/dora/deployments", {**WINDOW, "page_size": 5, "page": page}).json()["results"]}
    assert len(rows) == 20
    assert rows["api-0311"]["incident_linked"] and not rows["api-0313"]["incident_linked"]
    assert rows["api-0311"]["median_lead_time_seconds"] == 8 * HOUR
    assert rows["web-0312"]["changes"] == 3 and rows["web-0312"]["median_lead_time_seconds"] == 26 * HOUR
    assert rows["api-0329"]["status"] == "failure" and rows["api-0329"]["median_lead_time_seconds"] is None
    failed = month.approver_api.get("/api/dora/deployments", {**WINDOW, "status": "failure"}).json()
    assert [row["key"] for row in failed["results"]] == ["api-0329"]


def test_the_incidents_list_shows_the_linked_deployment(month):
    body = month.submitter_api.get("/api/dora/incidents", {**WINDOW, "service": "worker"}).json()
    assert [(row["key"], row["deployment"]["key"], row["restore_seconds"]) for row in body["results"]] == [
        ("I3", "worker-0321", 24 * HOUR)]


def test_the_changes_list_is_the_tenants_own(month, globex):
    mine = month.submitter_api.get("/api/dora/changes", {**WINDOW, "page_size": 200}).json()
    theirs = globex.submitter_api.get("/api/dora/changes", {**WINDOW, "page_size": 200}).json()
    # acme: 10 api + 7 web + 4 worker changes committed in the month (a29 and w10s were committed before it)
    assert mine["count"] == 21 and theirs["count"] == 1
    assert {row["sha"] for row in theirs["results"]} == {"a11"}


def test_the_changes_list_filters_by_repository(month):
    def count(repository):
        return month.submitter_api.get("/api/dora/changes", {**WINDOW, "repository": repository}).json()["count"]

    assert (count("acme/app"), count("acme/other"), count("")) == (21, 0, 21)


# --- /metrics ---------------------------------------------------------------------------------------


def test_the_metrics_collector_reads_every_service_in_a_bounded_number_of_queries(month, monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: END)
    with CaptureQueriesContext(connection) as queries:
        families = {family.name: {tuple(sample.labels.values()): sample.value for sample in family.samples}
                    for family in DoraCollector().collect()}
    assert len(queries) <= 16, [q["sql"][:120] for q in queries]
    deployments = families["emma_dora_deployments"]
    assert deployments[("acme", "api", "production")] == 10 and deployments[("globex", "api", "production")] == 1
    assert families["emma_dora_change_failure_rate"][("acme", "api", "production")] == 0.1
    assert families["emma_dora_lead_time_median_seconds"][("acme", "worker", "production")] == 48 * HOUR
    assert families["emma_dora_time_to_restore_median_seconds"][("acme", "web", "production")] == 6 * HOUR
    # More services cost no more queries.
    signals_store(tenant_id=month.tenant_id, provider="github", signals=[
        deploy(f"extra-{n}", f"extra-{n}", at(20, 8), [f"x{n}"]) for n in range(5)])
    with CaptureQueriesContext(connection) as more:
        list(DoraCollector().collect())
    assert len(more) == len(queries)


# --- the admin dashboard ----------------------------------------------------------------------------


def test_the_dashboard_shows_a_member_their_tenants_figures(month, client, globex, monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: END)
    client.force_login(month.submitter)
    page = client.get("/admin/integrations/deployment/dashboard/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "14 hours" in text and "16%" in text and "level-low" in text and "<svg" in text
    assert "id__in=" in text  # the drill-down links
    client.force_login(globex.submitter)
    assert "14 hours" not in client.get("/admin/integrations/deployment/dashboard/").content.decode()


# --- the weekly digest ------------------------------------------------------------------------------


def test_the_slack_digest_posts_last_week_once(month):
    DoraDigest.objects.create(tenant_id=month.tenant_id, enabled=True, via="slack", to="C0DORA")
    monday = datetime(2024, 4, 1, 9, tzinfo=UTC)
    assert digest.digests_send(now=monday) == 1
    assert digest.digests_send(now=monday + timedelta(hours=1)) == 0  # the next beat: sent already
    messages = list(OutboundMessage.objects.filter(purpose="dora_digest"))
    assert len(messages) == 1 and messages[0].to == "C0DORA"
    assert messages[0].idempotency_key == f"dora-digest:{month.tenant_id}:2024-03-25"
    assert "Deployments: 4 (−1 on the week before)" in messages[0].text
    assert DoraDigest.objects.get().last_week_sent == date(2024, 3, 25)
    # A claim that lost the race (the week is sent) posts nothing.
    assert digest.digest_send(digest_id=DoraDigest.objects.get().pk, week=date(2024, 3, 25)) is False
    assert digest.digests_send(now=monday + timedelta(weeks=1)) == 1  # the next week, once more


def test_a_disabled_digest_posts_nothing(month):
    DoraDigest.objects.create(tenant_id=month.tenant_id, enabled=False, via="slack", to="C0DORA")
    assert digest.digests_send(now=datetime(2024, 4, 1, 9, tzinfo=UTC)) == 0
    assert not OutboundMessage.objects.filter(purpose="dora_digest").exists()


def test_the_notify_digest_submits_one_task_as_run_as(month):
    from emma.models import AgentTask
    from integrations.services import routing_rule_create

    rule = routing_rule_create(tenant_id=month.tenant_id, name="dora", provider="github", run_as=month.admin,
                               channel="slack", to="C0DORA")
    DoraDigest.objects.create(tenant_id=month.tenant_id, enabled=True, via="notify", to=str(rule.pk),
                              run_as=month.admin)
    monday = datetime(2024, 4, 1, 9, tzinfo=UTC)
    assert digest.digests_send(now=monday) == 1
    assert digest.digests_send(now=monday) == 0
    task = AgentTask.objects.get(task_type="notify")
    assert task.idempotency_key == f"dora-digest:{month.tenant_id}:2024-03-25"
    assert task.parameters["rule_id"] == rule.pk and "Lead time" in task.parameters["text"]


def test_every_members_home_links_to_the_dashboard(month, client, monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: END)
    client.force_login(month.approver)
    home = client.get("/admin/").content.decode()
    assert 'id="panel-dora"' in home and "/admin/integrations/deployment/dashboard/" in home and "16%" in home


def test_a_superuser_chooses_the_tenant_of_the_dashboard(month, globex, admin_client, monkeypatch):
    monkeypatch.setattr(selectors, "now", lambda: END)
    acme_page = admin_client.get("/admin/integrations/deployment/dashboard/", {"tenant": month.tenant_id})
    globex_page = admin_client.get("/admin/integrations/deployment/dashboard/", {"tenant": globex.tenant_id})
    assert "14 hours" in acme_page.content.decode() and "14 hours" not in globex_page.content.decode()


def test_a_tenant_admin_edits_the_digest_of_their_own_tenant(month, globex, client):
    from integrations.services import routing_rule_create

    rule = routing_rule_create(tenant_id=month.tenant_id, name="dora", provider="github", run_as=month.admin,
                               channel="slack", to="C0DORA")
    client.force_login(month.admin)
    # Emma's Slack bot posts ungoverned only where an operator says: a tenant admin names a (governed) notify rule.
    slack = client.post("/admin/integrations/doradigest/add/", {
        "enabled": "on", "via": "slack", "to": "C0ANYWHERE", "service": "", "environment": "prod"})
    assert slack.status_code == 200 and not DoraDigest.objects.exists()
    response = client.post("/admin/integrations/doradigest/add/", {
        "enabled": "on", "via": "notify", "to": str(rule.pk), "run_as": month.admin.pk, "service": "",
        "environment": "prod"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    saved = DoraDigest.objects.get()
    assert saved.tenant_id == month.tenant_id and saved.environment == "production"
    refused = client.post("/admin/integrations/doradigest/add/", {"via": "notify", "to": str(rule.pk),
                                                                  "run_as": month.admin.pk,
                                                                  "environment": "production"})
    assert refused.status_code == 200 and DoraDigest.objects.count() == 1  # one per tenant
    client.force_login(month.submitter)
    assert client.get("/admin/integrations/doradigest/").status_code == 403


def test_one_digest_that_cannot_be_sent_does_not_stop_the_others(month, globex):
    DoraDigest.objects.create(tenant_id=month.tenant_id, enabled=True, via="notify", to="999999",
                              run_as=month.admin)
    DoraDigest.objects.create(tenant_id=globex.tenant_id, enabled=True, via="slack", to="C0GLOBEX")
    assert digest.digests_send(now=datetime(2024, 4, 1, 9, tzinfo=UTC)) == 1
    assert OutboundMessage.objects.filter(purpose="dora_digest", to="C0GLOBEX").count() == 1
