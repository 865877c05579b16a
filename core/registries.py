"""What the apps declare at start-up (AppConfig.ready) for the operations app to act on, so that
operations never imports them: the data retention may prune, the periodic jobs beat runs, and the
maintenance jobs that run locked and recorded.

    register_prunable("integrations.webhook_delivery_bodies", delivery_bodies, "received_at", action=...)
    register_periodic_job(PeriodicJob("escalation sweep", "governance.expire_escalations", every_seconds=5, ...))
    register_maintenance_job("prune_expired_memories", lambda figures: figures.update(...))
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.db.models import QuerySet

# --- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prunable:
    """Data the retention job may prune once `date_field` is older than the retention period. `action`
    is "delete" or a callable that takes a batch's queryset and returns how many rows it changed (e.g.
    emptying message bodies while keeping the rows); such a queryset must leave out the rows already
    pruned, since batches are selected until none is left."""

    name: str
    queryset: Callable[[], QuerySet]
    date_field: str
    action: str | Callable[[QuerySet], int] = "delete"


_prunables: dict[str, Prunable] = {}


def register_prunable(name: str, queryset: Callable[[], QuerySet], date_field: str,
                      action: str | Callable[[QuerySet], int] = "delete") -> None:
    """Registering a name again replaces it."""
    if action != "delete" and not callable(action):
        raise ValueError('action must be "delete" or a callable taking a queryset')
    _prunables[name] = Prunable(name, queryset, date_field, action)


def unregister_prunable(name: str) -> None:
    _prunables.pop(name, None)


def prunables() -> dict[str, Prunable]:
    return dict(sorted(_prunables.items()))


# --- periodic jobs (beat) -----------------------------------------------------------------------

CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def fingerprint(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PeriodicJob:
    """One default schedule of beat; `operations.schedules` writes it as a django-celery-beat row."""

    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict = field(default_factory=dict)  # minute, hour, day_of_week, day_of_month, month_of_year (UTC)
    expires_seconds: int | None = None
    queue: str | None = None
    description: str = ""
    args: tuple = ()
    # Earlier defaults of this job, as the fields that differed: rows still equal to one are updated.
    previous: tuple[dict, ...] = ()

    def spec(self) -> dict:
        if self.every_seconds:
            schedule = {"every": self.every_seconds, "period": "seconds"}
        else:
            schedule = {name: str(self.crontab.get(name, "*")) for name in CRONTAB_FIELDS} | {"timezone": "UTC"}
        return {"task": self.task, "schedule": schedule, "expire_seconds": self.expires_seconds,
                "queue": self.queue or None, "args": list(self.args), "kwargs": {}, "enabled": True}

    def fingerprint(self) -> str:
        return fingerprint(self.spec())

    def previous_fingerprints(self) -> set[str]:
        return {replace(self, previous=(), **fields).fingerprint() for fields in self.previous}


_periodic_jobs: dict[str, PeriodicJob] = {}


def register_periodic_job(job: PeriodicJob) -> None:
    _periodic_jobs[job.name] = job


def periodic_jobs() -> list[PeriodicJob]:
    return list(_periodic_jobs.values())


# --- maintenance jobs ---------------------------------------------------------------------------

_maintenance_jobs: dict[str, Callable[[dict], object]] = {}


def register_maintenance_job(name: str, work: Callable[[dict], object]) -> None:
    """`work(figures)` runs as one locked, recorded maintenance run named `name` (the task
    `operations.run_maintenance_job` with that name, from beat or by hand); it fills `figures`."""
    _maintenance_jobs[name] = work


def maintenance_job(name: str) -> Callable[[dict], object]:
    return _maintenance_jobs[name]


# --- the admin's home page ----------------------------------------------------------------------


@dataclass(frozen=True)
class HomePanel:
    """A block of a person's admin home page, shown to the roles named, in `order`. `context(request,
    membership)` gives the template its context, or None to leave the panel out (nothing to show)."""

    name: str
    template: str
    context: Callable[..., dict | None]
    roles: tuple[str, ...]
    order: int = 50


@dataclass(frozen=True)
class HomeLink:
    """A link in the home page's "Manage" list, for the roles named (e.g. the policy, for tenant admins)."""

    title: str
    url_name: str
    roles: tuple[str, ...]
    order: int = 50
    args: tuple = ()


_home_panels: dict[str, HomePanel] = {}
_home_links: dict[str, HomeLink] = {}


def register_home_panel(panel: HomePanel) -> None:
    _home_panels[panel.name] = panel


def register_home_link(link: HomeLink) -> None:
    _home_links[link.title] = link


def home_panels(role: str) -> list[HomePanel]:
    return sorted((p for p in _home_panels.values() if role in p.roles), key=lambda p: (p.order, p.name))


def home_links(role: str) -> list[HomeLink]:
    return sorted((link for link in _home_links.values() if role in link.roles), key=lambda link: link.order)


# --- task type names (emma registers them: core validates what an API key may submit) -------------

_task_type_names: Callable[[], set[str]] | None = None


def register_task_type_names(provider: Callable[[], set[str]]) -> None:
    global _task_type_names
    _task_type_names = provider


def task_type_names() -> set[str] | None:
    """The names of the task types that may be submitted; None while no app registered them."""
    return _task_type_names() if _task_type_names is not None else None


# --- ports: what an app above asks of one below it that it may not import -----------------------------


_ports: dict[str, Callable] = {}


def register_port(name: str, function: Callable) -> None:
    """Offer `function` under `name` to the apps that may not import its own (drafting asks integrations to
    send through the outbox: `port("slack_publish")(...)`)."""
    _ports[name] = function


def port(name: str) -> Callable:
    return _ports[name]
