from emma.services.tasks import (  # noqa: F401
    SubmitResult,
    run_transcript,
    task_cancel,
    task_execute,
    task_history,
    task_on_escalation_closed,
    MAX_BATCH,
    task_submit,
    tasks_submit,
    tasks_reap_stuck,
    tasks_republish_stale,
    tasks_settle_closed_escalations,
)
