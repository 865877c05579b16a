"""The hot path's database round trips, counted (not timed): a submission and an execution each make a
fixed, small number, however the ORM around them changes. A regression here is a regression in cost."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_submission_and_an_execution_make_few_round_trips(acme, monkeypatch, django_assert_max_num_queries):
    from emma import services

    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)
    acme.submit(parameters={"text": "warm"})  # the audit chain's head exists from here on

    # The user and membership, BEGIN, the policy, the decision's record, the task, its event, the chain's head,
    # the audit event, COMMIT.
    with django_assert_max_num_queries(9):
        task_id = acme.submit(parameters={"text": "hi"})["task_id"]
    # The claim (with its event; the message names the task's type), BEGIN, the finish (with its event),
    # the chain's head, the audit event, COMMIT.
    with django_assert_max_num_queries(6):
        assert services.task_execute(task_id=task_id, task_type="diagnostic.echo") == "succeeded"


def test_a_batch_costs_the_same_round_trips_as_one_task(acme, monkeypatch, django_assert_max_num_queries):
    from emma import services

    monkeypatch.setattr(services.tasks, "_publish", lambda *args, **kwargs: None)
    acme.submit(parameters={"text": "warm"})
    batch = {"tasks": [{"task_type": "diagnostic.echo", "parameters": {"i": n}} for n in range(100)]}

    with django_assert_max_num_queries(9):
        response = acme.submitter_api.post("/api/tasks/batch", batch, format="json")
    assert response.status_code == 202 and len(response.json()["tasks"]) == 100
