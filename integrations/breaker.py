"""The outbound providers' circuit breakers (core.breaker), with the integrations' numbers:
INTEGRATIONS_BREAKER_THRESHOLD (5) consecutive failures open a provider's breaker for
INTEGRATIONS_BREAKER_COOLDOWN_SECONDS (30). Read at each call, so a changed setting applies at once."""

from django.conf import settings

from core.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, Gate  # noqa: F401  (this module's vocabulary)
from core.breaker import reset as _reset
from core.breaker import states as _states

PROVIDERS = ("slack", "twilio", "waba")


def for_provider(provider: str) -> Breaker:
    return Breaker(provider, threshold=settings.INTEGRATIONS_BREAKER_THRESHOLD,
                   cooldown_seconds=settings.INTEGRATIONS_BREAKER_COOLDOWN_SECONDS)


def acquire(provider: str) -> Gate:
    """Ask before calling the provider."""
    return for_provider(provider).acquire()


def record_success(provider: str) -> None:
    """The provider answered (even with a refusal of this one request): it is up."""
    for_provider(provider).record_success()


def record_failure(provider: str, *, probe: bool = False) -> None:
    """The provider failed (5xx, 429, timeout, connection)."""
    for_provider(provider).record_failure(probe=probe)


def release_probe(provider: str) -> None:
    """The probe was not used after all (the message was deferred for another reason)."""
    for_provider(provider).release_probe()


def states(providers=PROVIDERS) -> dict[str, dict]:
    """Each provider's state, failure count and reopening time, in one round trip."""
    return _states(providers)


def reset(provider: str) -> None:
    """Forget the provider's breaker state (operators, tests)."""
    _reset(provider)
