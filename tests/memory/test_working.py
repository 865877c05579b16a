"""Working memory: an ordered list per tenant and session in Redis, with a TTL and a maximum length."""

import time
import uuid

import pytest

pytestmark = pytest.mark.django_db


def url(session_id):
    return f"/api/memory/working/{session_id}"


def session():
    return f"s-{uuid.uuid4().hex[:12]}"


def say(client, session_id, content, **body):
    response = client.post(url(session_id), {"content": content, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_entries_come_back_in_the_order_they_were_added(acme):
    sid = session()
    say(acme.submitter_api, sid, "hello", role="user")
    say(acme.submitter_api, sid, "hi, how can I help?", role="assistant", metadata={"model": "x"})
    body = acme.submitter_api.get(url(sid)).json()
    assert [(e["role"], e["content"]) for e in body["entries"]] == [("user", "hello"),
                                                                   ("assistant", "hi, how can I help?")]
    assert body["entries"][1]["metadata"] == {"model": "x"}
    assert body["entries"][0]["at"]
    assert 0 < body["ttl_seconds"] <= 3600


def test_the_list_is_trimmed_to_the_maximum_keeping_the_newest(acme, settings):
    settings.WORKING_MEMORY_MAX_ENTRIES = 3
    sid = session()
    for n in range(5):
        state = say(acme.submitter_api, sid, f"message {n}")
        assert len(state["entries"]) == min(n + 1, 3)
    body = acme.submitter_api.get(url(sid)).json()
    assert [e["content"] for e in body["entries"]] == ["message 2", "message 3", "message 4"]
    assert body["max_entries"] == 3


def test_a_session_expires_after_its_ttl_and_each_append_restarts_it(acme, settings):
    settings.WORKING_MEMORY_TTL_SECONDS = 2
    sid = session()
    say(acme.submitter_api, sid, "first")
    time.sleep(1.2)
    say(acme.submitter_api, sid, "second")  # restarts the two seconds
    time.sleep(1.2)
    assert [e["content"] for e in acme.submitter_api.get(url(sid)).json()["entries"]] == ["first", "second"]
    time.sleep(1.3)
    body = acme.submitter_api.get(url(sid)).json()
    assert body["entries"] == []
    assert body["ttl_seconds"] == 0


def test_delete_forgets_the_session(acme):
    sid = session()
    say(acme.submitter_api, sid, "secret plan")
    assert acme.submitter_api.delete(url(sid)).status_code == 204
    assert acme.submitter_api.get(url(sid)).json()["entries"] == []


def test_sessions_of_one_tenant_are_invisible_to_another(acme, globex):
    sid = session()
    say(acme.submitter_api, sid, "acme's conversation")
    assert globex.submitter_api.get(url(sid)).json()["entries"] == []
    say(globex.submitter_api, sid, "globex's own, same session id")
    assert globex.submitter_api.delete(url(sid)).status_code == 204
    assert [e["content"] for e in acme.submitter_api.get(url(sid)).json()["entries"]] == ["acme's conversation"]


def test_a_session_is_shared_by_the_users_of_one_tenant(acme):
    sid = session()
    say(acme.submitter_api, sid, "from the submitter")
    say(acme.approver_api, sid, "from the approver")
    assert len(acme.admin_api.get(url(sid)).json()["entries"]) == 2


@pytest.mark.parametrize("bad", ["a" * 129, "-leading-dash", "with space"])
def test_malformed_session_ids_are_400(acme, bad):
    response = acme.submitter_api.get(url(bad))
    assert response.status_code == 400
    assert "session_id" in response.json()["error"]["details"]


def test_invalid_entries_are_refused(acme):
    sid = session()
    assert acme.submitter_api.post(url(sid), {}, format="json").status_code == 400
    response = acme.submitter_api.post(url(sid), {"content": "x", "colour": "red"}, format="json")
    assert response.status_code == 400
    assert "colour" in response.json()["error"]["details"]
    assert acme.submitter_api.post(url(sid), {"content": "x", "metadata": [1]}, format="json").status_code == 400


def test_working_memory_needs_a_login(api_client):
    assert api_client.get(url("abc")).status_code == 401
