"""Model fields of Emma's own."""

from django.db import models

from core import crypto


class EncryptedTextField(models.TextField):
    """Text kept encrypted at rest: the column holds a Fernet token under the newest key of EMMA_ENCRYPTION_KEYS
    (core/crypto.py); the model holds the text. None stays None (NULL).

    A value written under an older key still reads; `manage.py emma_rotate_encryption_keys` moves it to the
    newest. Tokens are random, so only `__isnull` lookups mean anything. The field is in no form (a form would
    write the secret back into the page): a service sets it, and a screen says only whether it is set."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else crypto.encrypt(value)

    def formfield(self, **kwargs):
        return None

