from django.core.management.base import BaseCommand, CommandError

from governance.audit import verify_chain


class Command(BaseCommand):
    help = "Walk every tenant's audit hash chain; exit non-zero naming the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--tenant-id", type=int, help="check one tenant only")

    def handle(self, *args, tenant_id=None, **options):
        checked, broken = verify_chain(tenant_id)
        if broken:
            raise CommandError(f"audit chain broken at event id={broken.event_id} (tenant {broken.tenant_id}, "
                               f"seq {broken.seq}): {broken.problem}; {checked} events before it verified")
        self.stdout.write(f"audit chain intact: {checked} events verified")
