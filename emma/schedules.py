"""The periodic jobs beat runs, as defaults. `setup_periodic_tasks` creates the missing ones and never
overwrites one that exists, so what an operator changed in the admin stays changed."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict = field(default_factory=dict)  # minute, hour, day_of_week, ... (UTC)
    expires_seconds: int | None = None
    queue: str | None = None


# Filled by the apps that own each job (escalation sweeps, reapers, maintenance).
PERIODIC_JOBS: list[PeriodicJob] = []
