"""Maintenance metrics: runs by job and outcome (counted where they finish), and gauges read from the
run and backup records at scrape time (right whichever process serves /metrics)."""

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

MAINTENANCE_RUNS = Counter("emma_maintenance_runs_total",
                           "Maintenance job runs, by job and outcome (success, failed, skipped).", ["job", "outcome"])
BACKUP_VERIFICATIONS = Counter("emma_backup_verifications_total",
                               "Backups restored into a scratch database and checked, by outcome (verified, failed).",
                               ["outcome"])

_LAST_SUCCESS = ("emma_maintenance_last_success_timestamp",
                 "Unix time at which each maintenance job last finished successfully.")
_LAST_FAILURE = ("emma_maintenance_last_failure_timestamp",
                 "Unix time at which each maintenance job last failed (absent: never failed).")
_LAST_VERIFIED = ("emma_backup_last_verified_timestamp",
                  "Unix time at which the newest verified backup was taken (0: none verified yet).")
_LAST_SIZE = ("emma_backup_last_size_bytes", "Size of the newest completed or verified backup file.")


class MaintenanceCollector:
    """emma_maintenance_last_{success,failure}_timestamp{job}, emma_backup_last_verified_timestamp and
    emma_backup_last_size_bytes, from PostgreSQL at scrape time: right in every deployment, whichever
    process ran the job (a worker's counters reach /metrics only where it shares the web's metrics dir)."""

    def describe(self):
        # Named here so registering the collector never queries the database.
        yield GaugeMetricFamily(*_LAST_SUCCESS, labels=["job"])
        yield GaugeMetricFamily(*_LAST_FAILURE, labels=["job"])
        yield GaugeMetricFamily(*_LAST_VERIFIED)
        yield GaugeMetricFamily(*_LAST_SIZE)

    def collect(self):
        from django.db.models import Max

        from operations.models import Backup, MaintenanceRun

        for (name, help_text), outcome in ((_LAST_SUCCESS, MaintenanceRun.Outcome.SUCCESS),
                                           (_LAST_FAILURE, MaintenanceRun.Outcome.FAILED)):
            gauge = GaugeMetricFamily(name, help_text, labels=["job"])
            rows = (MaintenanceRun.objects.filter(outcome=outcome).values("job")
                    .annotate(last=Max("finished_at")).order_by("job"))
            for row in rows:
                if row["last"] is not None:
                    gauge.add_metric([row["job"]], row["last"].timestamp())
            yield gauge
        verified = Backup.objects.filter(status=Backup.Status.VERIFIED).order_by("-started_at").first()
        yield GaugeMetricFamily(*_LAST_VERIFIED, value=verified.started_at.timestamp() if verified else 0)
        newest = (Backup.objects.filter(status__in=(Backup.Status.COMPLETED, Backup.Status.VERIFIED))
                  .order_by("-started_at").first())
        yield GaugeMetricFamily(*_LAST_SIZE, value=(newest.size_bytes or 0) if newest else 0)


# Registered with core.metrics in OperationsConfig.ready.
maintenance_collector = MaintenanceCollector()
