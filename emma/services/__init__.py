from emma.services.tasks import (  # noqa: F401
    SubmitResult,
    task_cancel,
    task_execute,
    task_on_escalation_decided,
    tasks_reap_stuck,
    tasks_republish_stale,
    task_submit,
)
from emma.services.tenancy import tenant_get_or_create, user_upsert  # noqa: F401
