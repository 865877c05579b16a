"""The drafts screen for tenant admins (read-only: drafts are written through the API): the document, its
revisions, and a side-by-side diff between any two of them."""

import difflib

from django.conf import settings
from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import TenantReadOnlyAdmin, as_text
from core.models import Membership
from drafting.exports import render_html
from drafting.models import Draft, Revision
from emma.admin import ReadOnlyInline


def document_html(markdown: str) -> str:
    """The document as the admin shows it: rendered and sanitised (drafting.exports.render_html: no scripts,
    styles or handlers survive). Past DRAFT_EXPORT_RENDER_MAX_BYTES, escaped text: rendering would hold the
    page as long as an export would."""
    if len(markdown.encode("utf-8", "replace")) > settings.DRAFT_EXPORT_RENDER_MAX_BYTES:
        return format_html('<pre class="draft-content" style="white-space: pre-wrap">{}</pre>', markdown)
    return format_html('<div class="draft-content">{}</div>', mark_safe(render_html(markdown)))  # noqa: S308 - sanitised


def side_by_side(older: Revision, newer: Revision) -> str:
    """difflib's side-by-side table of two revisions (it escapes the text it shows)."""
    table = difflib.HtmlDiff(wrapcolumn=80).make_table(
        older.content.splitlines(), newer.content.splitlines(), fromdesc=f"revision {older.number}",
        todesc=f"revision {newer.number}", context=True, numlines=3)
    return mark_safe(table)  # noqa: S308 - HtmlDiff escapes &, < and > of every line


class RevisionInline(ReadOnlyInline):
    model = Revision
    fields = readonly_fields = ["number", "kind", as_text("author"), "saves", "checkpoint", "created_at", "saved_at",
                                "compare"]
    ordering = ["-number"]

    @admin.display(description="diff")
    def compare(self, revision):
        if revision.number <= 1:
            return "—"
        url = reverse("admin:drafting_draft_diff", args=[revision.draft_id])
        return format_html('<a href="{}?from={}&to={}">with {}</a>', url, revision.number - 1, revision.number,
                           revision.number - 1)


@admin.register(Draft)
class DraftAdmin(TenantReadOnlyAdmin):
    roles = (Membership.Role.ADMIN,)  # drafts are private to their people; a tenant's admins see them all
    list_display = ["title", "doc_type", "status", "owner", "revision", "touched_at"]
    list_filter = ["status", "doc_type"]
    list_select_related = ["owner", "tenant"]
    search_fields = ["title", "owner__username"]
    fields = readonly_fields = ["title", as_text("tenant"), "doc_type", "status", "status_note", as_text("owner"),
                                "tags", "tone", "audience", "revision", "created_at", "touched_at", "published_at",
                                "archived_at", "collaborator_list", "document"]
    inlines = [RevisionInline]

    @admin.display(description="collaborators")
    def collaborator_list(self, draft):
        return format_html_join(", ", "{} ({})", ((c.user.username, c.role)
                                                  for c in draft.collaborators.select_related("user"))) or "—"

    @admin.display(description="content")
    def document(self, draft):
        return document_html(draft.content)

    def get_urls(self):
        diff = self.admin_site.admin_view(self.diff_view)
        return [path("<uuid:object_id>/diff/", diff, name="drafting_draft_diff"), *super().get_urls()]

    def diff_view(self, request, object_id):
        draft = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, draft):
            return TemplateResponse(request, "admin/emma/error.html", {"status": 403}, status=403)
        numbers = list(draft.revisions.order_by("number").values_list("number", flat=True))

        def chosen(name, default):
            value = request.GET.get(name, "")
            return int(value) if value.isdigit() and int(value) in numbers else default

        newer_number = chosen("to", draft.revision)
        older_number = chosen("from", max(1, newer_number - 1))
        older = draft.revisions.get(number=older_number)
        newer = draft.revisions.get(number=newer_number)
        return TemplateResponse(request, "admin/drafting/draft/diff.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "draft": draft, "numbers": numbers,
            "older": older, "newer": newer, "table": side_by_side(older, newer),
            "title": f"{draft.title}: revision {older.number} → {newer.number}"})
