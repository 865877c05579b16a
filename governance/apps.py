from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"

    def ready(self):
        from core.audit import register_recorder
        from core.configuration import Document, register_document
        from core.metrics import register_scrape_time_collector
        from core.registries import register_periodic_job, register_prunable
        from governance import home
        from governance.audit import audit_record
        from governance.models import DecisionRecord
        from governance.metrics import approval_sla_collector, open_escalations_collector
        from governance.policy import POLICY_SCHEMA, default_policy
        from governance.tasks import PERIODIC_JOBS

        register_scrape_time_collector(open_escalations_collector)
        register_scrape_time_collector(approval_sla_collector)
        home.register()
        register_recorder(audit_record)
        register_document(Document(
            "policy", schema=POLICY_SCHEMA, defaults=default_policy, title="Governance policy", audit_prefix="policy",
            diff_depth=1, description="How tasks and tool calls are decided: autonomy level, rules, cost limits, "
                                      "budget, escalation ladder (also at /api/governance/policy)."))
        # Decisions older than LOG_RETENTION_DAYS: simulations replay the recent ones (the audit chain keeps all).
        register_prunable("governance.decision_record", DecisionRecord.objects.all, "created_at")
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
