"""What the provider clients tell the send service, and what the webhook verifiers tell the views."""

from dataclasses import dataclass


class NotConfigured(Exception):
    """The integration's credentials or secret are not set."""


class ProviderError(Exception):
    """A send the provider did not accept. Retryable when it may accept it later (5xx, 429, a
    timeout, a refused connection): those count against the breaker. Others (a bad number, an
    unknown channel) fail the message at once and say why."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    provider_channel: str = ""  # Slack: the channel id the message landed in (a DM's D…), for chat.update


SIGNATURE_REFUSED = "The request's signature is missing, wrong or too old."


class Refused(Exception):
    """A webhook request that must not be stored: 401 without a signature, 403 with a bad or stale one.
    `reason` labels the metric; `message` is what the caller is told."""

    def __init__(self, status: int, reason: str, message: str = SIGNATURE_REFUSED):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.message = message


def missing(what: str) -> Refused:
    return Refused(401, f"missing_{what}")


def bad(what: str, message: str = SIGNATURE_REFUSED) -> Refused:
    return Refused(403, f"bad_{what}", message)


def stale() -> Refused:
    return Refused(403, "stale_timestamp")
