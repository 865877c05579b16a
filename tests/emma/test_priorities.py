"""Task priorities reach the broker in its own scale, so the most urgent queued message is delivered
first: Redis (priority steps, emptied lowest first) and RabbitMQ (x-max-priority, highest first)."""

import uuid

import pytest
from django.conf import settings
from kombu import Exchange, Queue

from config.celery_app import app
from core.queueing import broker_priority


def test_emma_priorities_map_onto_the_brokers_scale(settings):
    settings.CELERY_BROKER_URL = "redis://localhost:6379/0"
    assert [broker_priority(p) for p in (1, 5, 10)] == [0, 4, 9], "Redis: lowest first"
    settings.CELERY_BROKER_URL = "amqp://guest:guest@localhost:5672//"
    assert [broker_priority(p) for p in (1, 5, 10)] == [9, 5, 0], "RabbitMQ: highest first"


@pytest.mark.parametrize("urgent, routine", [(1, 9), (3, 4)])
def test_the_broker_delivers_a_more_urgent_message_before_those_queued_earlier(urgent, routine):
    """On the suite's own broker, with the app's transport options: 50 routine messages, then one urgent."""
    name = f"priority-test-{uuid.uuid4().hex[:8]}"
    amqp = settings.CELERY_BROKER_URL.startswith(("amqp", "pyamqp"))
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, auto_delete=False,
                  queue_arguments={"x-max-priority": 10} if amqp else None)
    with app.connection_for_write() as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        try:
            producer = connection.Producer()
            for index in range(50):
                producer.publish({"index": index}, exchange=queue.exchange, routing_key=name,
                                 priority=broker_priority(routine))
            producer.publish({"urgent": True}, exchange=queue.exchange, routing_key=name,
                             priority=broker_priority(urgent))
            first = bound.get(no_ack=True)
            assert first is not None and first.payload == {"urgent": True}
            assert bound.get(no_ack=True).payload == {"index": 0}, "the rest in the order they came"
        finally:
            bound.delete()
