"""Model fields of Emma's own: EncryptedTextField, and the re-encryption of its columns under the newest key
(`manage.py emma_rotate_encryption_keys`)."""

from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

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


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every EncryptedTextField of every installed model, each column once (a proxy shares its model's table,
    and a child model's inherited field is its parent's column)."""
    return [(model, field) for model in apps.get_models() if not model._meta.proxy
            for field in model._meta.local_concrete_fields if isinstance(field, EncryptedTextField)]


@dataclass
class ColumnRotation:
    current: int = 0  # already under the newest key
    stale: int = 0  # under an older key: re-encrypted (or, checking, still to be)
    unreadable: int = 0  # opened by no key: left as it is


def column_rotate(*, model: type[models.Model], field_name: str, check: bool = False,
                  batch_size: int = 500) -> ColumnRotation:
    """Re-encrypts every non-null value of one encrypted column under the newest key: rows in primary-key order,
    `batch_size` at a time, each batch locked (select_for_update) and written in a transaction of its own.
    A value already under the newest key is left alone, so running it again writes nothing; `check` only counts.
    The tokens are read and written as stored, past the field (which would decrypt and encrypt them again)."""
    counts = ColumnRotation()
    as_stored = Cast(field_name, output_field=models.TextField())
    rows = model._base_manager.filter(**{f"{field_name}__isnull": False}).order_by("pk")
    last_pk = None
    while True:
        with transaction.atomic():
            batch = rows if last_pk is None else rows.filter(pk__gt=last_pk)
            if not check:
                batch = batch.select_for_update()
            batch = list(batch.annotate(_token=as_stored).values_list("pk", "_token")[:batch_size])
            for pk, token in batch:
                if crypto.is_current(token):
                    counts.current += 1
                    continue
                try:
                    rotated = crypto.rotate(token)
                except crypto.DecryptionError:
                    counts.unreadable += 1
                    continue
                counts.stale += 1
                if not check:
                    model._base_manager.filter(pk=pk).update(
                        **{field_name: models.Value(rotated, output_field=models.TextField())})
        if len(batch) < batch_size:
            return counts
        last_pk = batch[-1][0]
