"""Drafts routes, under /api/drafts (config/urls.py includes them). `templates...` comes before the
draft's own routes; a draft id is a UUID, so no name is ever read as one."""

from django.urls import path

from drafting.api import assist, comments, drafts, outputs, publications, reviews, templates

urlpatterns = [
    path("", drafts.DraftsApi.as_view(), name="drafts"),
    path("/templates", templates.TemplatesApi.as_view(), name="draft-templates"),
    path("/templates/<int:template_id>", templates.TemplateDetailApi.as_view(), name="draft-template-detail"),
    path("/templates/<int:template_id>/versions", templates.TemplateVersionsApi.as_view(),
         name="draft-template-versions"),
    path("/templates/<int:template_id>/preview", templates.TemplatePreviewApi.as_view(),
         name="draft-template-preview"),
    path("/<uuid:draft_id>", drafts.DraftDetailApi.as_view(), name="draft-detail"),
    path("/<uuid:draft_id>/collaborators", drafts.DraftCollaboratorsApi.as_view(), name="draft-collaborators"),
    path("/<uuid:draft_id>/transition", drafts.DraftTransitionApi.as_view(), name="draft-transition"),
    path("/<uuid:draft_id>/review", reviews.DraftReviewApi.as_view(), name="draft-review"),
    path("/<uuid:draft_id>/reviews", reviews.DraftReviewsApi.as_view(), name="draft-reviews"),
    path("/<uuid:draft_id>/publish", publications.DraftPublishApi.as_view(), name="draft-publish"),
    path("/<uuid:draft_id>/publications", publications.DraftPublicationsApi.as_view(), name="draft-publications"),
    path("/<uuid:draft_id>/revisions", drafts.RevisionsApi.as_view(), name="draft-revisions"),
    path("/<uuid:draft_id>/revisions/<int:number>", drafts.RevisionDetailApi.as_view(), name="draft-revision-detail"),
    path("/<uuid:draft_id>/revisions/<int:number>/restore", drafts.RevisionRestoreApi.as_view(),
         name="draft-revision-restore"),
    path("/<uuid:draft_id>/diff", drafts.DraftDiffApi.as_view(), name="draft-diff"),
    path("/<uuid:draft_id>/events", drafts.DraftEventsApi.as_view(), name="draft-events"),
    path("/<uuid:draft_id>/export", outputs.DraftExportApi.as_view(), name="draft-export"),
    path("/<uuid:draft_id>/analysis", outputs.DraftAnalysisApi.as_view(), name="draft-analysis"),
    path("/<uuid:draft_id>/assist", assist.DraftAssistApi.as_view(), name="draft-assist"),
    path("/<uuid:draft_id>/assists", assist.DraftAssistsApi.as_view(), name="draft-assists"),
    path("/<uuid:draft_id>/comments", comments.CommentsApi.as_view(), name="draft-comments"),
    path("/<uuid:draft_id>/comments/<int:comment_id>/resolve", comments.CommentResolveApi.as_view(),
         name="draft-comment-resolve"),
    path("/<uuid:draft_id>/comments/<int:comment_id>/reopen", comments.CommentReopenApi.as_view(),
         name="draft-comment-reopen"),
]
