from prometheus_client import Counter

APPROVAL_DECISIONS = Counter("emma_approval_decisions_total",
                             "Escalation outcomes: approved, rejected (by a person), expired (by timeout).",
                             ["outcome"])
