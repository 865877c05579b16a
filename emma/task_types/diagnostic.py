import time

from emma.registry import task_type
from governance.summaries import quoted


@task_type("diagnostic.echo", risk="low", time_limit=30, description="Returns its parameters unchanged.",
           schema={"type": "object"}, tool=True,
           headline=lambda a: f"echo {quoted(a['text'])}" if "text" in a else "echo its parameters back")
def echo(ctx, parameters):
    return parameters


@task_type("diagnostic.sleep", risk="low", time_limit=120, max_attempts=1,
           description="Sleeps for `seconds`; for time-limit and cancellation checks.",
           schema={"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600}},
                   "required": ["seconds"], "additionalProperties": False},
           headline=lambda a: f"sleep for {a['seconds']} seconds")
def sleep(ctx, parameters):
    deadline = time.monotonic() + float(parameters["seconds"])
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return {"slept": parameters["seconds"]}
