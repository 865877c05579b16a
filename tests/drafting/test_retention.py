"""Retention: untouched drafts are archived, long-archived ones deleted, published ones kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from drafting.models import Draft, Revision
from operations.retention import logs_prune
from tests.drafting.conftest import create

pytestmark = pytest.mark.django_db


def test_untouched_drafts_are_archived_then_deleted_and_published_ones_kept(acme, settings):
    settings.DRAFT_ARCHIVE_DAYS = 30
    settings.DRAFT_RETENTION_DAYS = 60
    settings.LOG_RETENTION_DAYS = 365  # the drafts' own periods rule, not the logs'
    stale, fresh, published = (create(acme.submitter_api, title=title)["id"] for title in ("stale", "fresh", "pub"))
    Draft.objects.filter(pk=published).update(status="published", published_at=timezone.now())
    Draft.objects.filter(pk__in=[stale, published]).update(touched_at=timezone.now() - timedelta(days=31))

    figures = logs_prune(only=["drafting.archive_untouched", "drafting.delete_archived"])

    assert figures["pruned"]["drafting.archive_untouched"]["rows"] == 1
    assert Draft.objects.get(pk=stale).status == "archived" and Draft.objects.get(pk=fresh).status == "draft"
    assert Draft.objects.get(pk=published).status == "published"

    Draft.objects.filter(pk__in=[stale, published]).update(status="archived",
                                                           archived_at=timezone.now() - timedelta(days=61))
    logs_prune(only=["drafting.archive_untouched", "drafting.delete_archived"])

    assert not Draft.objects.filter(pk=stale).exists() and not Revision.objects.filter(draft_id=stale).exists()
    assert Draft.objects.filter(pk=published).exists()  # once published, kept
    assert Draft.objects.filter(pk=fresh).exists()
