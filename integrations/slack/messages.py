"""Block Kit for approval requests: the request with Approve/Reject buttons, and the same message
once decided (the buttons replaced by who decided). The buttons carry the approver's decision code;
the block id carries the escalation, so a press is deduplicated per action, escalation and member."""

APPROVE, REJECT = "emma_approve", "emma_reject"
BLOCK_PREFIX = "emma:"


def approval_blocks(*, text: str, code: str, escalation_id, progress: str = "") -> list:
    """`progress`: how far a quorum is ("1 of 2 approvals: alice approved"), shown above the buttons."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        *([{"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{progress}*"}]}] if progress else []),
        {"type": "actions", "block_id": f"{BLOCK_PREFIX}{escalation_id}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": code,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": REJECT, "style": "danger", "value": code,
             "text": {"type": "plain_text", "text": "Reject"}},
        ]},
    ]


def decided_blocks(*, request: str, headline: str) -> list:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": request}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{headline}*"}]},
    ]
