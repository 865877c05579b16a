"""GitLab webhooks, verified one of two ways with the endpoint's one secret (whsec_<base64 of 32 bytes>, a form
both of GitLab's fields take):

- the signing token (GitLab 18.x, https://docs.gitlab.com/user/project/integrations/webhooks/ "signing token";
  https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944): Standard Webhooks, webhook-signature =
  v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">, checked by the `standardwebhooks` package
  (integrations.standardwebhooks.verify), timestamp within 5 minutes. Used whenever webhook-signature is sent;
  the dedup key is then webhook-id (signed), so a replay inside the window with a new Idempotency-Key is still a
  duplicate.
- else the secret token (https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-
  a-secret-token): X-Gitlab-Token carries the secret as is, compared in constant time. Nothing is signed and no
  time is sent, so a captured request replays; the dedup key (Idempotency-Key, stable across GitLab's retries)
  stores each delivery once."""

from integrations.standardwebhooks import verify as standard
from integrations.webhooks import check_token


def check(request, secret: str, options=None) -> None:
    if standard.signed(request):
        standard.check(request, secret)
    else:
        check_token(secret=secret, value=request.headers.get("X-Gitlab-Token"), what="token")
