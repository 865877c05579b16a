"""What an escalation will do, in words: each task type or tool registers a headline ("POST to
crm.example.com") and, if it likes, a small template for the details (the body it will send); the
approval screens, the list and the home page show them. Anything unregistered falls back to its name
and its arguments as JSON. A summary only presents: it never decides anything.

    register_summary("webhook.post", headline=lambda a: f"POST to {host(a['url'])}",
                     template="emma/summaries/webhook_post.html")
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.template.loader import render_to_string
from django.utils.text import Truncator

from core.admin import pretty_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    headline: Callable[[dict], str]  # the arguments -> what it does, as a verb phrase
    template: str | None = None  # context: escalation, arguments


_summaries: dict[str, Summary] = {}


def register_summary(name: str, *, headline: Callable[[dict], str], template: str | None = None) -> None:
    """`name` is a task type or a tool; registering it again replaces it."""
    _summaries[name] = Summary(headline, template)


def host(url) -> str:
    """The host of a URL, for a headline (the URL itself if it has none)."""
    return urlsplit(str(url)).hostname or str(url)


def quoted(text, length: int = 80) -> str:
    return f"“{Truncator(' '.join(str(text).split())).chars(length)}”"


def _name(escalation) -> str:
    return escalation.tool if escalation.step is not None else escalation.task_type


def actor(escalation) -> str:
    """Who wants it: the requester for a task, the agent run and its step for a tool call."""
    if escalation.step is not None:
        return f"{escalation.requester.get_username()}'s agent run, step {escalation.step},"
    return escalation.requester.get_username()


def headline(escalation) -> str:
    """The verb phrase: "POST to crm.example.com". A registered headline that fails on odd arguments
    falls back to the name, so a summary can never break the page."""
    summary = _summaries.get(_name(escalation))
    if summary is not None:
        try:
            return str(summary.headline(escalation.parameters or {}))
        except Exception:  # noqa: BLE001 - the arguments are the requester's; show them instead
            logger.warning("summary headline for %s failed", _name(escalation), exc_info=True)
    return f"call the tool {escalation.tool}" if escalation.step is not None else f"run {escalation.task_type}"


def one_line(escalation) -> str:
    """ "sam wants to POST to crm.example.com" """
    return f"{actor(escalation)} wants to {headline(escalation)}"


def details(escalation, request=None) -> str:
    """The HTML of what exactly will happen: the registered template, or the arguments as JSON."""
    summary = _summaries.get(_name(escalation))
    if summary is not None and summary.template:
        try:
            return render_to_string(summary.template, {"escalation": escalation,
                                                       "arguments": escalation.parameters or {}}, request)
        except Exception:  # noqa: BLE001 - as above
            logger.warning("summary template for %s failed", _name(escalation), exc_info=True)
    return pretty_json(escalation.parameters)


def duration(seconds: float) -> str:
    """ "45 seconds", "12 minutes", "3 hours 5 minutes", "2 days 4 hours" """
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} second{'s' * (seconds != 1)}"
    parts, units = [], [("day", 86400), ("hour", 3600), ("minute", 60)]
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' * (count != 1)}")
    return " ".join(parts[:2])


def at_deadline(escalation) -> str:
    """What happens if nobody decides: the next tier of the ladder, or the policy's final outcome."""
    following = escalation.tier + 1
    if following < len(escalation.ladder or []):
        group = (escalation.ladder[following] or {}).get("group") or "any approver"
        return f"it moves to tier {following} ({group})"
    return "it is approved by the policy's default" if escalation.final_outcome == "approve" else \
        "it is rejected by the policy's default"


def deadline(escalation, now) -> dict:
    """Time left, whether it is due soon (under a quarter of its tier's time, or a minute) and what then."""
    left = (escalation.deadline - now).total_seconds()
    ladder = escalation.ladder or []
    tier = ladder[escalation.tier] if escalation.tier < len(ladder) else {}
    allowed = float(tier.get("timeout_seconds") or 900)
    return {"left": duration(left), "overdue": left <= 0, "due_soon": 0 < left <= max(60.0, allowed / 4),
            "then": at_deadline(escalation)}
