from django.apps import AppConfig


class DraftingConfig(AppConfig):
    name = "drafting"
    verbose_name = "Drafting"

    def ready(self):
        from core.configuration import register_document
        from drafting import assist, configuration, retention
        from emma import hooks as emma_hooks

        register_document(configuration.document())
        emma_hooks.register_on_task_finished(assist.on_task_finished)
        retention.register()
