from django.core.management.base import BaseCommand

from operations import schedules


class Command(BaseCommand):
    help = ("Create the default periodic tasks that are missing and bring those nobody changed to the current "
            "defaults; a task an operator changed in the admin is left as it is (see operations/schedules.py).")

    def handle(self, *args, **options):
        result = schedules.periodic_tasks_sync()
        self.stdout.write("periodic tasks: " + ", ".join(f"{len(names)} {what}" for what, names in result.items()))
        if result["kept"]:
            self.stdout.write(f"kept as changed by an operator: {', '.join(result['kept'])}")
