"""Encryption at rest: Fernet tokens under the keys of EMMA_ENCRYPTION_KEYS, newest first.

A value is encrypted with the first key and read with any of them (`MultiFernet`), so a key rotates
without downtime: prepend a new key, deploy, re-encrypt (`manage.py emma_rotate_encryption_keys`), then
drop the old key. https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet

No message here ever holds a key or a value: they end up in logs and tracebacks."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VARIABLE = "EMMA_ENCRYPTION_KEYS"


class DecryptionError(Exception):
    """A stored value that no key of EMMA_ENCRYPTION_KEYS opens."""


def checked_keys(keys) -> list[str]:
    """The keys, stripped and without empty entries, once each is a Fernet key; else ImproperlyConfigured
    naming the variable and the key's position, never the key."""
    keys = [key.strip() for key in keys if key and key.strip()]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"{VARIABLE}: key {position} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`).") from None
    return keys


def development_key(secret_key: str) -> str:
    """The key of a development or test settings module that sets none: HKDF-SHA256 of SECRET_KEY, so it stays
    the same from one run to the next. Never for production (config/settings/production.py requires keys)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"emma EMMA_ENCRYPTION_KEYS development key").derive(secret_key.encode())
    return base64.urlsafe_b64encode(derived).decode()


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    keys = checked_keys(keys)
    if not keys:
        raise ImproperlyConfigured(f"{VARIABLE} is empty: set one or more Fernet keys, newest first.")
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


def _keys() -> tuple[MultiFernet, Fernet]:
    """Built once per value of the setting (tests change it)."""
    return _fernets(tuple(settings.EMMA_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """A Fernet token of the text under the newest key."""
    return _keys()[0].encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The text of a token under any of the keys; DecryptionError when none opens it."""
    try:
        return _keys()[0].decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(f"a stored value opens with none of the keys in {VARIABLE} (was a key dropped "
                              "before `manage.py emma_rotate_encryption_keys` ran?)") from None


def is_current(token: str) -> bool:
    """Whether the token is under the newest key (Fernet tokens do not name their key: the newest must open it)."""
    try:
        _keys()[1].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """The token re-encrypted under the newest key (its timestamp kept); DecryptionError when no key opens it."""
    try:
        return _keys()[0].rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(f"a stored value opens with none of the keys in {VARIABLE}") from None
