from django.core.management.base import BaseCommand, CommandError

from core.fields import column_rotate, encrypted_fields


class Command(BaseCommand):
    help = ("Re-encrypt every encrypted value (EncryptedTextField, in every app) under the newest key of "
            "EMMA_ENCRYPTION_KEYS, counting per model and field; values already under it are left alone. "
            "--check only counts, and fails while any value is not under the newest key.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="count, write nothing; fail if any value is stale")
        parser.add_argument("--batch-size", type=int, default=500, help="rows locked and written per transaction")

    def handle(self, *args, check=False, batch_size=500, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        stale = unreadable = 0
        for model, field in encrypted_fields():
            counts = column_rotate(model=model, field_name=field.name, check=check, batch_size=batch_size)
            stale, unreadable = stale + counts.stale, unreadable + counts.unreadable
            done = "not under the newest key" if check else "re-encrypted"
            line = f"{model._meta.label}.{field.name}: {counts.stale} {done}, {counts.current} under the newest key"
            self.stdout.write(line + (f", {counts.unreadable} opened by no key" if counts.unreadable else ""))
        if unreadable:
            raise CommandError(f"{unreadable} values open with none of EMMA_ENCRYPTION_KEYS: put back the key they "
                               "were written with, then run this again.")
        if check and stale:
            raise CommandError(f"{stale} values are not under the newest key: run emma_rotate_encryption_keys "
                               "before dropping an old key.")
