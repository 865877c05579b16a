from prometheus_client import Counter, Histogram

TASKS_SUBMITTED = Counter("emma_tasks_submitted_total", "Agent tasks submitted, by type and decision.",
                          ["task_type", "decision"])
TASK_DURATION = Histogram("emma_task_duration_seconds", "Agent task handler run time.", ["task_type"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
WORKFLOWS = Counter("emma_workflows_auto_vs_hitl_total",
                    "Tasks that went to run: straight away (auto) or after a human approved (hitl).", ["path"])
PUBLISH_FAILURES = Counter("emma_task_publish_failures_total",
                           "Task messages that could not be published (the sweep publishes them later).")
