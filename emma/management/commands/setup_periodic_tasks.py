import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from emma.schedules import PERIODIC_JOBS


class Command(BaseCommand):
    help = "Create the default periodic tasks that do not exist yet; existing ones are left as they are."

    @transaction.atomic
    def handle(self, *args, **options):
        created = 0
        for job in PERIODIC_JOBS:
            if PeriodicTask.objects.filter(name=job.name).exists():
                continue
            schedule = {}
            if job.every_seconds:
                schedule["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=job.every_seconds, period=IntervalSchedule.SECONDS)
            else:
                schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **job.crontab)
            PeriodicTask.objects.create(
                name=job.name, task=job.task, expire_seconds=job.expires_seconds, kwargs=json.dumps({}),
                queue=job.queue, **schedule)
            created += 1
        self.stdout.write(f"periodic tasks: {created} created, {len(PERIODIC_JOBS) - created} already present")
