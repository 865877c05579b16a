"""The Redis broker's transport (core/broker.py): one redis-py client per channel for its commands,
where kombu builds one per publish; every message still arrives, and a channel whose pool was dropped
(a reconnect) gets a client on the new pool."""

import uuid

import pytest
from celery import current_app
from django.conf import settings
from kombu import Exchange, Queue

from core.broker import Transport


def test_a_redis_broker_uses_emmas_transport_and_publishes_through_one_client():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis (RabbitMQ keeps kombu's own transport)")
    queue = Queue(f"test-broker-{uuid.uuid4().hex}", Exchange("test-broker", type="direct"),
                  routing_key=uuid.uuid4().hex)
    with current_app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        channel = connection.default_channel
        producer = connection.Producer(channel)
        producer.publish({"n": 0}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        client = channel._sync_client
        for n in range(1, 5):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key)
        assert channel._sync_client is client

        channel._disconnect_pools()  # what kombu does when the connection is lost
        producer.publish({"n": 5}, exchange=queue.exchange, routing_key=queue.routing_key)
        assert channel._sync_client is not client and channel._sync_client.connection_pool is channel.pool

        bound = queue(channel)
        received = []
        while (message := bound.get(no_ack=True)) is not None:
            received.append(message.payload["n"])
        bound.delete()
    assert received == [0, 1, 2, 3, 4, 5]
