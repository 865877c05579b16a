"""Episodic memory: what happened, per tenant, queryable by time, source and task; pruned by age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from memory import selectors, services
from memory.models import EpisodicEvent
from operations.retention import logs_prune

pytestmark = pytest.mark.django_db


def record(team, kind="inbound_message", source="slack", minutes_ago=0, **fields):
    return services.episode_record(tenant_id=team.tenant_id, kind=kind, source=source,
                                   occurred_at=timezone.now() - timedelta(minutes=minutes_ago), **fields)


def test_task_results_and_messages_are_recorded_with_their_details(acme):
    task_id = acme.submit()["task_id"]
    inbound = record(acme, actor="U123", content="Can you summarise the incident?", metadata={"channel": "C1"})
    result = record(acme, kind="task_result", source="research", actor="research", content="The answer.",
                    task_id=task_id)
    outbound = record(acme, kind="outbound_message", source="sms", actor="emma", content="Done.")
    events = list(selectors.episodes(tenant_id=acme.tenant_id))
    assert {e.pk for e in events} == {inbound.pk, result.pk, outbound.pk}
    stored = EpisodicEvent.objects.get(pk=inbound.pk)
    assert (stored.source, stored.actor, stored.content, stored.metadata) == (
        "slack", "U123", "Can you summarise the incident?", {"channel": "C1"})
    assert str(EpisodicEvent.objects.get(pk=result.pk).task_id) == task_id


def test_events_are_queried_by_time_range_source_kind_and_task(acme):
    task_id = acme.submit()["task_id"]
    old = record(acme, minutes_ago=120, content="old")
    middle = record(acme, minutes_ago=60, source="sms", content="middle")
    new = record(acme, kind="task_result", source="research", minutes_ago=1, content="new", task_id=task_id)
    now = timezone.now()

    def found(**filters):
        return [e.content for e in selectors.episodes(tenant_id=acme.tenant_id, **filters)]

    assert found() == ["new", "middle", "old"]  # newest first
    assert found(since=now - timedelta(minutes=90)) == ["new", "middle"]
    assert found(until=now - timedelta(minutes=90)) == ["old"]
    assert found(since=now - timedelta(minutes=90), until=now - timedelta(minutes=30)) == ["middle"]
    assert found(source="sms") == ["middle"]
    assert found(kind="task_result") == ["new"]
    assert found(task_id=task_id) == ["new"]
    assert {old.pk, middle.pk, new.pk} == set(EpisodicEvent.objects.values_list("pk", flat=True))


def test_the_episodes_api_filters_and_keeps_to_the_tenant(acme, globex):
    task_id = acme.submit()["task_id"]
    record(acme, minutes_ago=30, content="acme inbound")
    record(acme, kind="task_result", source="research", content="acme result", task_id=task_id)
    record(globex, content="globex inbound")
    body = acme.submitter_api.get("/api/memory/episodes").json()
    assert [e["content"] for e in body["results"]] == ["acme result", "acme inbound"]
    by_task = acme.submitter_api.get("/api/memory/episodes", {"task_id": task_id}).json()["results"]
    assert [e["content"] for e in by_task] == ["acme result"] and by_task[0]["task_id"] == task_id
    since = (timezone.now() - timedelta(minutes=10)).isoformat()
    assert [e["content"] for e in acme.submitter_api.get("/api/memory/episodes", {"since": since}).json()["results"]] \
        == ["acme result"]
    assert [e["content"] for e in globex.submitter_api.get("/api/memory/episodes").json()["results"]] == \
        ["globex inbound"]
    assert globex.submitter_api.get("/api/memory/episodes", {"task_id": task_id}).json()["count"] == 0
    assert acme.submitter_api.get("/api/memory/episodes", {"kind": "gossip"}).status_code == 400


def test_a_task_has_one_result_event_even_when_its_handler_runs_again(acme):
    task_id = acme.submit()["task_id"]
    first = record(acme, kind="task_result", source="research", content="first try", task_id=task_id)
    second = record(acme, kind="task_result", source="research", content="second try", task_id=task_id)
    assert first.pk == second.pk
    assert [e.content for e in selectors.episodes(tenant_id=acme.tenant_id, task_id=task_id)] == ["second try"]


def test_retention_removes_only_events_older_than_the_cut(acme, globex):
    record(acme, minutes_ago=60 * 24 * 40, content="forty days ago")
    record(globex, minutes_ago=60 * 24 * 31, content="thirty-one days ago")
    record(acme, minutes_ago=60 * 24 * 29, content="twenty-nine days ago")
    assert logs_prune(days=30, only=["memory.episodic_event"])["pruned"]["memory.episodic_event"]["rows"] == 2
    assert list(EpisodicEvent.objects.values_list("content", flat=True)) == ["twenty-nine days ago"]


def test_an_unknown_kind_is_refused(acme):
    with pytest.raises(ValueError):
        record(acme, kind="rumour")
