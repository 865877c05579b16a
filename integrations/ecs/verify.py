"""Amazon ECS deployment events, delivered by an EventBridge rule whose target is an API destination. EventBridge
signs nothing: the API destination's connection uses API-key authorization, which sends a header of the tenant's
choosing (the endpoint's `header` option, default X-Emma-Api-Key) with the endpoint's secret as its value; the
secret may instead be put at the end of the endpoint's URL. Compared in constant time.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-api-destinations.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-target-connection-auth.html
No timestamp is signed (the event's `time` is the event's, and API destinations retry for up to 24 hours), so none
is checked: a replay is caught by the event's `id` (the dedup key)."""

from integrations.webhooks import secret_header_or_url

DEFAULT_HEADER = "X-Emma-Api-Key"

check = secret_header_or_url("header", DEFAULT_HEADER)
