"""SonarQube (Server and Cloud) webhooks: when the webhook has a secret, X-Sonar-Webhook-HMAC-SHA256 = hex
HMAC-SHA256(secret, raw body). https://docs.sonarsource.com/sonarqube-server/discovering/integrations/webhooks
(Webhook protection with HMAC). SonarQube signs no timestamp: a replay is caught by the taskId (the dedup key), or
for a quality gate changed by an issue's update, which carries no taskId, by the body's hash."""

from integrations.webhooks import check_hmac

SIGNATURE_HEADER = "X-Sonar-Webhook-HMAC-SHA256"


def check(request, secret: str, options=None) -> None:
    check_hmac(secret=secret, body=request.body, signature=request.headers.get(SIGNATURE_HEADER))
