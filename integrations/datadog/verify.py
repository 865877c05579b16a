"""Datadog webhooks are not signed: https://docs.datadoghq.com/integrations/webhooks/ offers only custom headers
(JSON), basic auth in the URL and OAuth client credentials. So the endpoint's secret travels as is: in the custom
header the tenant names (Option "header", default X-Emma-Webhook-Secret; in Datadog's Custom Headers box:
{"X-Emma-Webhook-Secret": "<secret>"}), or at the end of the endpoint's URL. Compared in constant time; TLS is
what keeps it secret. There is no timestamp to check: a replay is caught by the payload's `id` ($ID), else by
the body's hash."""

from integrations.webhooks import secret_header_or_url

DEFAULT_HEADER = "X-Emma-Webhook-Secret"

check = secret_header_or_url("header", DEFAULT_HEADER)


def describe(options) -> str:
    return f"the secret in header {(options or {}).get('header') or DEFAULT_HEADER}, or at the end of the URL"
