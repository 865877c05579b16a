"""Codecov's webhook notification (codecov.yml `coverage.notify.webhook`) signs nothing and sends only fixed
headers, so the endpoint's secret goes at the end of the endpoint's URL (the `url` in codecov.yml), or, where a
proxy in between can add one, in a header (the endpoint's `header` option, default X-Emma-Webhook-Secret).
Compared in constant time. https://docs.codecov.com/docs/notifications#standard-notification-fields
No timestamp or delivery id is sent: a replay is caught by the body's hash (the dedup key)."""

from integrations.webhooks import secret_header_or_url

DEFAULT_HEADER = "X-Emma-Webhook-Secret"

check = secret_header_or_url("header", DEFAULT_HEADER)
