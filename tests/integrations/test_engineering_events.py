"""How engineering events update their rows whatever order deliveries arrive in (integrations.dora.services):
a replayed or late older delivery does not take a row back, a finished deployment keeps its outcome, a
reopened incident is unresolved again, an endpoint's keys are its own, and concurrent first deliveries about
one thing make one row."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations import signals as s
from integrations.dora.models import Deployment, Incident
from integrations.dora.services import signals_store

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 4, 10, tzinfo=UTC)


def deploy(status, finished, *, key="42", scope=""):
    return s.deployment(key=key, service="shop", status=status, sha="a" * 40, started_at=T0, finished_at=finished)


def store(team, *signals, scope=""):
    signals_store(tenant_id=team.tenant_id, provider="jenkins", signals=list(signals), scope=scope)


def test_a_replayed_older_failure_does_not_undo_the_success_that_followed(acme):
    store(acme, deploy(s.FAILURE, T0 + timedelta(minutes=5)))
    store(acme, deploy(s.SUCCESS, T0 + timedelta(minutes=30)))
    store(acme, deploy(s.FAILURE, T0 + timedelta(minutes=5)))  # the replay
    row = Deployment.objects.get()
    assert (row.status, row.finished_at) == (s.SUCCESS, T0 + timedelta(minutes=30))


def test_a_word_that_is_not_an_outcome_does_not_replace_a_finished_deployments(acme):
    store(acme, deploy(s.SUCCESS, T0 + timedelta(minutes=30)))
    store(acme, deploy("inactive", T0 + timedelta(days=16)))
    store(acme, deploy(s.IN_PROGRESS, None))
    row = Deployment.objects.get()
    assert (row.status, row.finished_at) == (s.SUCCESS, T0 + timedelta(minutes=30))


def test_a_reopened_incident_is_unresolved_again_but_a_late_old_trigger_changes_nothing(acme):
    def incident(status, **times):
        return s.incident(key="P1", service="shop", status=status, opened_at=T0, **times)

    store(acme, incident("triggered"))
    store(acme, incident("resolved", resolved_at=T0 + timedelta(hours=1)))
    store(acme, incident("triggered"))  # a late retry of the first: older than the resolution
    assert Incident.objects.get().resolved_at == T0 + timedelta(hours=1)
    store(acme, incident("triggered", acknowledged_at=T0 + timedelta(hours=2)))  # reopened, newer
    row = Incident.objects.get()
    assert (row.status, row.resolved_at) == ("triggered", None)


def test_two_endpoints_of_one_provider_keep_their_own_rows_with_the_same_key(acme):
    store(acme, deploy(s.SUCCESS, T0), scope="prod-jenkins")
    store(acme, deploy(s.FAILURE, T0), scope="staging-jenkins")
    assert sorted(Deployment.objects.values_list("scope", "status")) == [
        ("prod-jenkins", s.SUCCESS), ("staging-jenkins", s.FAILURE)]


def test_wrong_types_and_oversized_values_are_stored_cut_not_refused(acme):
    store(acme, s.deployment(key=12345, service=["not", "text"], status=s.SUCCESS, sha=None, title="x" * 5000,
                             url="https://ci.example/" + "y" * 5000, finished_at="not a date", started_at=10**30))
    row = Deployment.objects.get()
    assert row.key == "12345" and len(row.title) == 300 and len(row.url) == 1000 and row.finished_at is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_deliveries_about_one_deployment_make_one_row(acme):
    from django.db import transaction

    from tests.conftest import run_concurrently

    def first(status):
        with transaction.atomic():
            store(acme, deploy(status, T0 + timedelta(minutes=5 if status == s.IN_PROGRESS else 30)))

    run_concurrently(first, [s.IN_PROGRESS, s.SUCCESS, s.IN_PROGRESS, s.SUCCESS])
    assert Deployment.objects.get().status == s.SUCCESS
