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


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("escalation sweep", "governance.expire_escalations", every_seconds=5, expires_seconds=10,
                queue="escalations"),
    PeriodicJob("republish stale tasks", "emma.republish_stale_tasks", every_seconds=15, expires_seconds=30),
    PeriodicJob("stuck-task reaper", "emma.reap_stuck_tasks", every_seconds=60, expires_seconds=60),
    PeriodicJob("prune expired memories", "memory.prune_expired", every_seconds=3600, expires_seconds=600,
                queue="maintenance"),
]
