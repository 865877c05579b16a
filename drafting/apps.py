from django.apps import AppConfig


class DraftingConfig(AppConfig):
    name = "drafting"
    verbose_name = "Drafting"

    def ready(self):
        from core.configuration import register_document
        from core.registries import register_periodic_job
        from drafting import assist, configuration, publishing, retention, reviews
        from drafting.tasks import PERIODIC_JOBS
        from emma import hooks as task_hooks
        from governance import hooks
        from governance.summaries import register_summary

        register_document(configuration.document())
        task_hooks.register_on_task_finished(assist.on_task_finished)
        retention.register()
        # A review is decided as an escalation (its task_id is the review's id); its outcome moves the draft.
        hooks.register_on_escalation_closed(reviews.review_on_escalation_closed)
        hooks.register_task_history(reviews.review_history)
        register_summary(reviews.REVIEW_TASK_TYPE, template="drafting/summaries/review.html",
                         headline=lambda a: f"have the {a['doc_type'].replace('_', ' ')} “{a['title']}” "
                                            f"(revision {a['revision']}) approved")
        # drafting.publish is an emma task type (publishing registers it when imported); its end settles
        # the publication.
        task_hooks.register_on_task_finished(publishing.publication_on_task_finished)
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
