from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.models import Tenant
from integrations.github import backfill, client

PROVIDERS = ("github",)


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--since {text!r} is not a date: YYYY-MM-DD") from None


class Command(BaseCommand):
    help = ("Read a repository's deployments, merged pull requests and commits since a date from GitHub into the "
            "DORA tables, as the webhooks would have stored them (running it again, or after the webhooks, adds "
            "nothing twice). Reads as the tenant's GitHub App installation that reaches the repository, else with "
            "--token or GITHUB_BACKFILL_TOKEN.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--provider", required=True, choices=PROVIDERS)
        parser.add_argument("--repo", required=True, help="owner/name")
        parser.add_argument("--since", required=True, type=_date, help="YYYY-MM-DD (UTC)")
        parser.add_argument("--token", default=None,
                            help="a GitHub token that can read the repository, used when no installation of the "
                                 "tenant reaches it (default: GITHUB_BACKFILL_TOKEN)")

    def handle(self, *args, tenant, provider, repo, since, token=None, **options):
        tenant_id = Tenant.objects.filter(slug=tenant).values_list("pk", flat=True).first()
        if tenant_id is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            counts = backfill.backfill(tenant_id=tenant_id, repo=repo, since=since,
                                       token=token or settings.GITHUB_BACKFILL_TOKEN or None)
        except ApplicationError as exc:
            fields = "; ".join(message for messages in exc.details.values() for message in messages)
            raise CommandError(fields or exc.message) from None
        except client.GitHubFailure as exc:
            raise CommandError(f"{exc}: nothing was stored.") from None
        self.stdout.write(f"{counts['repository']} since {since:%Y-%m-%d}, read with the {counts['credentials']}: "
                          f"{counts['deployments']} deployments, {counts['pull_requests']} merged pull requests, "
                          f"{counts['commits']} commits ({counts['events']} engineering events stored)")
