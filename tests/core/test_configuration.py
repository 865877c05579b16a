"""Per-tenant configuration documents (core.configuration) through /api/config: validated against each
document's JSON Schema, versioned with author, reason and diff, rolled back, exported and imported whole or
not at all, the last N versions kept, audited, scoped to the tenant, watched once per change, and reloaded in
every process within a second of a commit (Redis pub/sub), with reads that survive Redis being down."""

import json
import time

import pytest
import redis

from core.configuration import cache, registry
from core.configuration import services as configuration
from core.configuration.selectors import config_current
from core.models import ConfigVersion
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

SLACK_OFF = {"providers": {"slack": False}}


def put(team, document, content, reason="because", client=None):
    return (client or team.admin_api).put(f"/api/config/{document}", {"content": content, "reason": reason},
                                          format="json")


def versions_of(team, document):
    return ConfigVersion.objects.filter(tenant_id=team.tenant_id, document=document).count()


# --- reading and writing ----------------------------------------------------------------------------


def test_the_list_names_every_registered_document_with_the_tenants_version(acme):
    assert put(acme, "integrations", SLACK_OFF).status_code == 200
    listed = {row["document"]: row for row in acme.submitter_api.get("/api/config").json()}
    assert {"policy", "integrations", "llm"} <= set(listed)
    assert listed["integrations"]["version"] == 1 and listed["integrations"]["author"] == "acme-admin"
    assert listed["llm"]["version"] == 0 and listed["llm"]["updated_at"] is None


def test_a_document_shows_what_the_tenant_set_over_the_deployments_defaults(acme, settings):
    settings.MAX_DAILY_MESSAGES = {"slack": 100, "sms": None, "whatsapp": None}
    answer = put(acme, "integrations", {**SLACK_OFF, "daily_caps": {"slack": 40}}).json()
    assert answer["version"] == 1 and answer["content"] == {**SLACK_OFF, "daily_caps": {"slack": 40}}
    effective = answer["effective"]
    assert effective["providers"]["slack"] is False and effective["providers"]["github"] is True, "the rest: env"
    assert effective["daily_caps"]["slack"] == 40 and effective["daily_caps"]["sms"] is None
    assert answer["schema"]["type"] == "object" and answer["reason"] == "because"
    assert acme.submitter_api.get("/api/config/integrations").json()["effective"] == effective, "members read"


def test_an_invalid_document_is_a_400_naming_every_problem_and_changes_nothing(acme, settings):
    settings.MAX_DAILY_MESSAGES = {"slack": 100, "sms": None, "whatsapp": None}
    response = put(acme, "integrations", {"providers": {"slack": "no", "fax": True},
                                          "daily_caps": {"sms": -1}})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert {"content.providers", "content.providers.slack", "content.daily_caps.sms"} <= set(details), details
    assert put(acme, "integrations", {"daily_caps": {"slack": 101}}).json()["error"]["details"] == {
        "content.daily_caps.slack": ["101 is above the deployment's cap of 100 (MAX_DAILY_SLACK_MESSAGES)"]}
    assert put(acme, "integrations", SLACK_OFF, reason="").status_code == 400, "a reason is required"
    assert put(acme, "llm", ["not", "an", "object"]).status_code == 400
    assert versions_of(acme, "integrations") == 0 and versions_of(acme, "llm") == 0


def test_an_unknown_document_is_a_404_json(acme):
    for method, path, body in (("get", "/api/config/nope", None), ("put", "/api/config/nope", {"content": {}}),
                               ("get", "/api/config/nope/versions", None), ("get", "/api/config/nope/export", None),
                               ("post", "/api/config/nope/rollback", {"version": 1, "reason": "x"})):
        response = getattr(acme.admin_api, method)(path, body, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", (method, path)


def test_only_tenant_admins_change_configuration(acme):
    assert put(acme, "llm", {"model": "gpt-4o"}, client=acme.approver_api).status_code == 403
    assert acme.approver_api.post("/api/config/import", {"documents": {"llm": {"content": {}}}, "reason": "x"},
                                  format="json").status_code == 403
    assert versions_of(acme, "llm") == 0


# --- versions, diff, rollback, export, import ---------------------------------------------------------


def test_each_change_is_a_version_with_author_reason_and_diff_and_is_audited(acme):
    put(acme, "integrations", SLACK_OFF, reason="Slack is down for us")
    put(acme, "integrations", {"providers": {"slack": False, "twilio": False}}, reason="no SMS either")
    page = acme.submitter_api.get("/api/config/integrations/versions").json()
    assert page["count"] == 2
    newest, first = page["results"]
    assert (newest["version"], newest["author"], newest["reason"]) == (2, "acme-admin", "no SMS either")
    assert newest["diff"] == {"providers.twilio": {"from": True, "to": False}}
    assert first["diff"] == {"providers.slack": {"from": True, "to": False}}
    events = AuditEvent.objects.filter(tenant_id=acme.tenant_id, action="config.updated", object_type="integrations")
    assert [e.object_id for e in events.order_by("seq")] == ["1", "2"]
    assert events.order_by("seq").last().after["providers"]["twilio"] is False


def test_rollback_is_a_new_version_with_the_old_content(acme):
    put(acme, "llm", {"model": "first-model"})
    put(acme, "llm", {"model": "second-model", "max_cost_per_run": 2})
    response = acme.admin_api.post("/api/config/llm/rollback", {"version": 1, "reason": "too expensive"},
                                   format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 3 and response.json()["content"] == {"model": "first-model"}
    assert config_current(tenant_id=acme.tenant_id, document="llm")[0]["max_cost_per_run"] is None
    assert AuditEvent.objects.filter(tenant_id=acme.tenant_id, action="config.rolled_back").count() == 1
    missing = acme.admin_api.post("/api/config/llm/rollback", {"version": 9, "reason": "x"}, format="json")
    assert missing.status_code == 400 and "version" in missing.json()["error"]["details"]
    assert versions_of(acme, "llm") == 3


def test_rollback_to_version_0_returns_to_the_deployments_defaults(acme, settings):
    put(acme, "integrations", SLACK_OFF)
    assert config_current(tenant_id=acme.tenant_id, document="integrations")[0]["providers"]["slack"] is False
    response = acme.admin_api.post("/api/config/integrations/rollback", {"version": 0, "reason": "undo the freeze"},
                                   format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["content"] == {}
    assert config_current(tenant_id=acme.tenant_id, document="integrations")[0]["providers"]["slack"] is True
    policy = acme.admin_api.post("/api/governance/policy/rollback", {"version": 0}, format="json")
    assert policy.status_code == 200, policy.content


def test_an_export_imports_back_and_an_unchanged_document_gets_no_new_version(acme, globex):
    put(acme, "llm", {"model": "acme-model", "prices": {"acme-model": {"input": 1, "output": 2}}})
    put(acme, "integrations", SLACK_OFF)
    exported = acme.admin_api.get("/api/config/llm/export")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    body = exported.json()
    assert body["tenant"] == "acme" and body["documents"] == {"llm": {"version": 1, "content": {
        "model": "acme-model", "prices": {"acme-model": {"input": 1, "output": 2}}}}}
    # Into another tenant: the file as it was exported, with a reason.
    response = globex.admin_api.post("/api/config/import", {**body, "reason": "same as acme"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"documents": {"llm": {"version": 1, "changed": True}}}
    assert config_current(tenant_id=globex.tenant_id, document="llm")[0]["model"] == "acme-model"
    again = globex.admin_api.post("/api/config/import", {**body, "reason": "again"}, format="json")
    assert again.json() == {"documents": {"llm": {"version": 1, "changed": False}}}
    assert versions_of(globex, "llm") == 1


def test_an_invalid_import_changes_nothing_and_names_every_error(acme):
    put(acme, "llm", {"model": "kept"})
    response = acme.admin_api.post("/api/config/import", {"reason": "restore", "documents": {
        "llm": {"content": {"model": "replaced"}},  # valid: must not be applied either
        "integrations": {"content": {"providers": {"slack": 1}}},
        "policy": {"content": {"autonomy_level": "reckless"}},
        "nope": {"content": {}},
        "drafting": {"version": 3}}}, format="json")
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert set(details) == {"documents.integrations.content.providers.slack", "documents.policy.content.autonomy_level",
                            "documents.nope", "documents.drafting"}, details
    assert config_current(tenant_id=acme.tenant_id, document="llm")[0]["model"] == "kept"
    assert (versions_of(acme, "llm"), versions_of(acme, "integrations"), versions_of(acme, "policy")) == (1, 0, 0)


def test_only_the_last_n_versions_are_kept_when_retention_is_set(acme, settings):
    settings.CONFIG_VERSIONS_KEPT = 2
    for model in ("one", "two", "three", "four"):
        put(acme, "llm", {"model": model})
    kept = ConfigVersion.objects.filter(tenant_id=acme.tenant_id, document="llm")
    assert sorted(kept.values_list("version", flat=True)) == [3, 4]
    refused = acme.admin_api.post("/api/config/llm/rollback", {"version": 1, "reason": "x"}, format="json")
    assert refused.status_code == 400 and "only the last 2" in json.dumps(refused.json())
    settings.CONFIG_VERSIONS_KEPT = 0  # every version (the default)
    put(acme, "llm", {"model": "five"})
    assert kept.count() == 3


# --- tenants and the policy ---------------------------------------------------------------------------


def test_one_tenant_never_sees_or_changes_anothers_configuration(acme, globex):
    put(acme, "integrations", SLACK_OFF, reason="acme-only reason")
    theirs = globex.admin_api.get("/api/config/integrations").json()
    assert theirs["version"] == 0 and theirs["effective"]["providers"]["slack"] is True
    assert globex.admin_api.get("/api/config/integrations/versions").json()["count"] == 0
    assert "acme" not in json.dumps(globex.admin_api.get("/api/config/integrations/export").json()["documents"])
    globex.admin_api.post("/api/config/integrations/rollback", {"version": 1, "reason": "x"}, format="json")
    put(globex, "integrations", {"providers": {"slack": True, "github": False}})
    assert config_current(tenant_id=acme.tenant_id, document="integrations")[0]["providers"]["github"] is True
    assert versions_of(acme, "integrations") == 1


def test_the_policy_is_one_document_with_its_old_endpoints(acme):
    acme.set_policy(autonomy_level="autonomous")
    through_config = acme.admin_api.get("/api/config/policy").json()
    assert through_config["version"] == 1 and through_config["effective"]["autonomy_level"] == "autonomous"
    assert put(acme, "policy", {**through_config["content"], "cost_threshold": 3}).status_code == 200
    old = acme.admin_api.get("/api/governance/policy").json()
    assert old["version"] == 2 and old["policy"]["cost_threshold"] == 3
    versions = acme.admin_api.get("/api/governance/policy/versions").json()["results"]
    assert set(versions[0]) == {"version", "document", "diff", "author", "note", "created_at"}
    assert versions[0]["diff"] == {"cost_threshold": {"from": 10.0, "to": 3}}
    assert AuditEvent.objects.filter(tenant_id=acme.tenant_id, action="policy.updated").count() == 2


# --- watchers ------------------------------------------------------------------------------------------


def test_a_watcher_is_called_once_per_committed_change_with_old_and_new(acme, committed):
    calls = []

    def watcher(**change):
        calls.append(change)

    registry.watch("llm", watcher)
    try:
        with committed():
            configuration.config_update(tenant_id=acme.tenant_id, document="llm", content={"model": "m1"},
                                        user=acme.admin, reason="first")
        with committed():
            configuration.config_update(tenant_id=acme.tenant_id, document="llm", content={"model": "m2"},
                                        user=acme.admin, reason="second")
        configuration.config_update(tenant_id=acme.tenant_id, document="integrations", content={}, user=acme.admin)
    finally:
        registry.unwatch("llm", watcher)
    assert [(c["tenant_id"], c["document"], c["old"]["model"], c["new"]["model"]) for c in calls] == [
        (acme.tenant_id, "llm", "gpt-4o-mini", "m1"), (acme.tenant_id, "llm", "m1", "m2")]


def test_any_app_can_register_a_document_of_its_own(acme):
    document = registry.Document("notes-test", schema={"type": "object", "properties": {"colour": {"enum": ["red"]}},
                                                       "additionalProperties": False},
                                 defaults=lambda: {"colour": "red", "size": 1})
    registry.register_document(document)
    try:
        assert put(acme, "notes-test", {"colour": "blue"}).status_code == 400
        assert put(acme, "notes-test", {}).json()["effective"] == {"colour": "red", "size": 1}
    finally:
        registry.unregister_document("notes-test")


# --- live reload ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_change_announced_by_another_process_is_seen_within_a_second(acme):
    loads = []

    def load():
        loads.append(time.monotonic())
        return config_current_uncached(acme)

    assert cache.listening(timeout=5), "the listener subscribes"
    cache.read(acme.tenant_id, "llm", load)
    cache.read(acme.tenant_id, "llm", load)
    assert len(loads) == 1, "the second read is this process's cache"
    ConfigVersion.objects.create(tenant_id=acme.tenant_id, document="llm", version=1, content={"model": "elsewhere"})
    announced = time.monotonic()
    redis.Redis.from_url(_redis_url()).publish(cache.CHANNEL, json.dumps({"tenant": acme.tenant_id,
                                                                          "document": "llm", "version": 1}))
    while time.monotonic() - announced < 1.0 and len(loads) == 1:
        cache.read(acme.tenant_id, "llm", load)
        time.sleep(0.005)
    assert len(loads) == 2, "dropped within a second of the announcement"
    assert cache.read(acme.tenant_id, "llm", load)[0] == {"model": "elsewhere"}


@pytest.mark.django_db(transaction=True)
def test_a_read_survives_redis_being_down(acme, monkeypatch):
    def down():
        raise redis.ConnectionError("Redis is down")

    class Broken:
        def publish(self, *args):
            down()

    monkeypatch.setattr(cache, "redis_client", lambda: Broken())
    configuration.config_update(tenant_id=acme.tenant_id, document="llm", content={"model": "still-saved"},
                                user=acme.admin, reason="Redis is down")  # committed; the announcement fails
    assert config_current(tenant_id=acme.tenant_id, document="llm")[0]["model"] == "still-saved"


def config_current_uncached(team):
    from core.configuration.selectors import config_stored

    return config_stored(tenant_id=team.tenant_id, document="llm")


def _redis_url():
    from django.conf import settings

    return settings.REDIS_URL


# --- the admin --------------------------------------------------------------------------------------------


def test_the_admin_lists_versions_and_a_tenant_admin_rolls_back_from_there(acme, globex, client):
    put(acme, "llm", {"model": "first"})
    put(acme, "llm", {"model": "second"})
    put(globex, "llm", {"model": "globex-only"})
    client.force_login(acme.admin)
    listed = client.get("/admin/core/configversion/")
    assert listed.status_code == 200
    assert {(v.document, v.version) for v in listed.context["cl"].result_list} == {("llm", 1), ("llm", 2)}
    first = ConfigVersion.objects.get(tenant_id=acme.tenant_id, document="llm", version=1)
    response = client.post("/admin/core/configversion/", {"action": "rollback_to_selected",
                                                          "_selected_action": [first.pk]})
    assert response.status_code == 302
    assert config_current(tenant_id=acme.tenant_id, document="llm") == (
        {"model": "first", "prices": {}, "max_cost_per_run": None}, 3)
    client.force_login(acme.approver)  # approvers read the versions; only admins roll back
    assert client.get("/admin/core/configversion/").status_code == 200
    client.post("/admin/core/configversion/", {"action": "rollback_to_selected", "_selected_action": [first.pk]})
    assert versions_of(acme, "llm") == 3
