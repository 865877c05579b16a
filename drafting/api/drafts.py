"""Drafts, their revisions, diffs and the live stream of a draft."""

import difflib

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import error_response
from core.serializers import ListFilterSerializer, NoInput, Pagination, StrictSerializer, paginated_response
from drafting import events, reviews, selectors, services
from drafting.api.common import (ETAG, IF_MATCH, CollaboratorSerializer, DraftDetailSerializer,
                                 DraftOutputSerializer, TagsField, draft_body, max_body_bytes)
from drafting.models import DocumentType, Draft, Revision

TOO_LARGE = error_response("The content is over DRAFT_MAX_CONTENT_BYTES, or the body over the limit of a "
                           "draft's body (`payload_too_large`, `details.max_bytes`); nothing is stored.")


def _with_etag(response: Response, draft: Draft) -> Response:
    response["ETag"] = draft.etag
    return response


class DraftsApi(APIView):
    """The drafts the caller may see (drafting.selectors: private to its owner, collaborators and tenant
    admins; approvers see those in review; everyone sees published ones), and a new draft: blank, with
    content, or rendered from a template's version with `variables` (checked against its JSON Schema)."""

    pagination_class = Pagination
    max_payload_bytes = staticmethod(max_body_bytes)

    class FilterSerializer(ListFilterSerializer):
        status = serializers.ChoiceField(choices=Draft.Status.choices, required=False)
        type = serializers.ChoiceField(choices=DocumentType.choices, required=False)
        tag = serializers.CharField(max_length=50, required=False)
        owner = serializers.CharField(max_length=150, required=False, help_text="The owner's username.")
        q = serializers.CharField(max_length=200, required=False, help_text="Text in the title or the content.")

    @extend_schema_serializer(component_name="DraftCreateInput")
    class InputSerializer(StrictSerializer):
        title = serializers.CharField(max_length=200, required=False, default="",
                                      help_text="Required unless a template gives one.")
        doc_type = serializers.ChoiceField(choices=DocumentType.choices, required=False, allow_null=True,
                                           default=None)
        content = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
        tags = TagsField(required=False, default=list)
        tone = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
        audience = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        collaborators = CollaboratorSerializer(many=True, required=False, default=list, max_length=100)
        template = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                            default=None)
        template_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False,
                                                    allow_null=True, default=None)
        variables = serializers.DictField(required=False, default=dict)

    @extend_schema(parameters=[FilterSerializer], responses=DraftOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer.filters(request)
        if "type" in filters:
            filters["doc_type"] = filters.pop("type")
        return paginated_response(request, self, selectors.drafts_list(request.user, **filters),
                                  DraftOutputSerializer)

    @extend_schema(request=InputSerializer, parameters=[ETAG], responses={201: DraftDetailSerializer, 413: TOO_LARGE})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        draft = services.draft_create(user=request.user, template_id=data.pop("template"), **data)
        _, access = selectors.draft_for(request.user, draft.pk)
        return _with_etag(Response(draft_body(draft, access), status=201), draft)


class DraftDetailApi(APIView):
    """One draft with its current content, collaborators and what the caller may do; changing its details."""

    @extend_schema_serializer(component_name="DraftUpdateInput")
    class InputSerializer(StrictSerializer):
        title = serializers.CharField(max_length=200, required=False)
        doc_type = serializers.ChoiceField(choices=DocumentType.choices, required=False)
        tags = TagsField(required=False)
        tone = serializers.CharField(max_length=50, required=False, allow_blank=True)
        audience = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(parameters=[ETAG], responses={200: DraftDetailSerializer})
    def get(self, request, draft_id):
        draft, access = selectors.draft_for(request.user, draft_id)
        return _with_etag(Response(draft_body(draft, access)), draft)

    @extend_schema(request=InputSerializer, parameters=[ETAG], responses={
        200: DraftDetailSerializer, 409: error_response("The draft is not a draft any more (`conflict`).")})
    def patch(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        draft = services.draft_update(user=request.user, draft_id=draft_id, **payload.validated_data)
        _, access = selectors.draft_for(request.user, draft.pk)
        return _with_etag(Response(draft_body(draft, access)), draft)


class DraftCollaboratorsApi(APIView):
    """Who the draft is shared with; PUT sets the whole list (its owner and tenant admins)."""

    @extend_schema_serializer(component_name="DraftCollaboratorsInput")
    class InputSerializer(StrictSerializer):
        collaborators = CollaboratorSerializer(many=True, max_length=100)

    OUTPUT = CollaboratorSerializer(many=True)

    @extend_schema(responses=OUTPUT)
    def get(self, request, draft_id):
        draft, _ = selectors.draft_for(request.user, draft_id)
        return Response(self._list(draft))

    @extend_schema(request=InputSerializer, responses=OUTPUT)
    def put(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        draft = services.collaborators_set(user=request.user, draft_id=draft_id, **payload.validated_data)
        return Response(self._list(draft))

    @staticmethod
    def _list(draft) -> list:
        return CollaboratorSerializer([{"username": c.user.username, "role": c.role}
                                       for c in selectors.collaborators_of(draft)], many=True).data


class DraftTransitionApi(APIView):
    """Move the draft: `submit` (draft → in_review: opens a review, an escalation to the tenant's reviewers),
    `request_changes` (in_review → draft, `note` saying what) and `approve` (in_review → approved), each a
    decision on that escalation (governance's rules: the tier's approvers, never the owner), `withdraw`
    (in_review → draft: the review taken back), `publish` (approved → published: marked sent by hand; see
    POST …/publish to send it), `archive` (→ archived)."""

    @extend_schema_serializer(component_name="DraftTransitionInput")
    class InputSerializer(StrictSerializer):
        action = serializers.ChoiceField(choices=list(reviews.TRANSITIONS))
        note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, parameters=[ETAG], responses={
        200: DraftDetailSerializer, 409: error_response("The draft's status does not allow this (`conflict`).")})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        draft = reviews.draft_transition(user=request.user, draft_id=draft_id, correlation_id=request.correlation_id,
                                         **payload.validated_data)
        # What the caller may do now (an approver who sent it back may no longer see it after this answer).
        return _with_etag(Response(draft_body(draft, selectors.draft_access(request.user, draft))), draft)


# --- revisions ---------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="DraftRevision")
class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)

    class Meta:
        model = Revision
        fields = ["number", "kind", "author", "saves", "checkpoint", "base_number", "their_number", "created_at",
                  "saved_at"]


@extend_schema_serializer(component_name="DraftRevisionDetail")
class RevisionDetailSerializer(RevisionSerializer):
    class Meta(RevisionSerializer.Meta):
        fields = RevisionSerializer.Meta.fields + ["content"]


class RevisionsApi(APIView):
    """The draft's revisions, newest first; POST saves the content as a revision (see revision_save: If-Match,
    coalescing within DRAFT_COALESCE_SECONDS unless `checkpoint`, three-way merge of a stale save)."""

    pagination_class = Pagination
    max_payload_bytes = staticmethod(max_body_bytes)

    @extend_schema_serializer(component_name="DraftSaveInput")
    class InputSerializer(StrictSerializer):
        content = serializers.CharField(allow_blank=True, trim_whitespace=False)
        checkpoint = serializers.BooleanField(required=False, default=False,
                                              help_text="A revision of its own, that later saves do not coalesce "
                                                        "into.")

    @extend_schema_serializer(component_name="DraftSaveOutput")
    class SaveOutputSerializer(serializers.Serializer):
        revision = RevisionSerializer()
        etag = serializers.CharField()
        changed = serializers.BooleanField(help_text="False: the content was the current revision's already.")
        coalesced = serializers.BooleanField(help_text="Saved into the latest revision, which kept its number.")
        merged = serializers.BooleanField(help_text="A stale save merged three-way with what was saved since.")
        base_revision = serializers.IntegerField(allow_null=True, help_text="A merge's base.")
        their_revision = serializers.IntegerField(allow_null=True, help_text="The revision merged with.")
        content = serializers.CharField(allow_null=True, help_text="The merged content (only when merged).")

    @extend_schema(parameters=[ListFilterSerializer], responses=RevisionSerializer(many=True))
    def get(self, request, draft_id):
        ListFilterSerializer.filters(request)
        draft, _ = selectors.draft_for(request.user, draft_id)
        return paginated_response(request, self, selectors.revisions_of(draft).defer("content"), RevisionSerializer)

    @extend_schema(request=InputSerializer, parameters=[IF_MATCH, ETAG], responses={
        201: OpenApiResponse(SaveOutputSerializer, description="A new revision (or a merge)."),
        200: OpenApiResponse(SaveOutputSerializer, description="Coalesced into the latest revision, or unchanged."),
        409: error_response("The save is stale and its edit touches what changed since, or its base is no longer "
                            "known (`conflict`; `details`: current_revision, etag, content, author, saved_at); "
                            "or the draft is not a draft any more."),
        413: TOO_LARGE, 428: error_response("No If-Match (`precondition_required`).")})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = services.revision_save(user=request.user, draft_id=draft_id,
                                        if_match=request.headers.get("If-Match"), **payload.validated_data)
        body = {"revision": RevisionSerializer(result.revision).data, "etag": result.draft.etag,
                "changed": result.changed, "coalesced": result.changed and not result.created,
                "merged": result.merged, "base_revision": result.base_number, "their_revision": result.their_number,
                "content": result.revision.content if result.merged else None}
        return _with_etag(Response(self.SaveOutputSerializer(body).data, status=201 if result.created else 200),
                          result.draft)


class RevisionDetailApi(APIView):
    @extend_schema(responses=RevisionDetailSerializer)
    def get(self, request, draft_id, number):
        draft, _ = selectors.draft_for(request.user, draft_id)
        return Response(RevisionDetailSerializer(selectors.revision_of(draft, number)).data)


class RevisionRestoreApi(APIView):
    """An earlier revision's content saved as a new revision."""

    @extend_schema(request=None, parameters=[ETAG], responses={201: RevisionsApi.SaveOutputSerializer,
                                            409: error_response("The draft is not a draft any more (`conflict`).")})
    def post(self, request, draft_id, number):
        NoInput.check(request)
        result = services.revision_restore(user=request.user, draft_id=draft_id, number=number)
        body = {"revision": RevisionSerializer(result.revision).data, "etag": result.draft.etag, "changed": True,
                "coalesced": False, "merged": False, "base_revision": number, "their_revision": None,
                "content": None}
        return _with_etag(Response(RevisionsApi.SaveOutputSerializer(body).data, status=201), result.draft)


class DraftDiffApi(APIView):
    """A unified diff between two revisions (`to` defaults to the current one)."""

    class FilterSerializer(StrictSerializer):
        from_ = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
        to = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
        context = serializers.IntegerField(min_value=0, max_value=100, required=False, default=3)

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    @extend_schema_serializer(component_name="DraftDiff")
    class OutputSerializer(serializers.Serializer):
        from_revision = serializers.IntegerField()
        to_revision = serializers.IntegerField()
        diff = serializers.CharField(help_text="Unified diff (empty when the two are the same).")

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request, draft_id):
        query = self.FilterSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        draft, _ = selectors.draft_for(request.user, draft_id)
        older = selectors.revision_of(draft, query.validated_data["from"])
        newer = selectors.revision_of(draft, query.validated_data.get("to") or draft.revision)
        diff = "".join(difflib.unified_diff(
            older.content.splitlines(True), newer.content.splitlines(True), n=query.validated_data["context"],
            fromfile=f"revision {older.number}", tofile=f"revision {newer.number}"))
        return Response({"from_revision": older.number, "to_revision": newer.number, "diff": diff})


class DraftEventsApi(APIView):
    """The draft as its editors follow it, as Server-Sent Events (drafting.events): `revision`, `comment`,
    `status`, `draft` (each with an `id:`), and `presence` (the usernames viewing it; no id). Send the last id
    back as `Last-Event-ID` (or `?last_event_id=`) to resume after it; one that names no event of this draft is
    a 400. Polls every 0.5 s, keep-alive every 15 s, ends after DRAFT_STREAM_MAX_SECONDS (reconnect)."""

    class FilterSerializer(serializers.Serializer):  # not strict: EventSource polyfills add their own parameters
        last_event_id = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type

    EVENT_ID = {"type": "string", "maxLength": 18, "pattern": "^[0-9]{1,18}$",
                "description": "The id of the last event received; one that names no event of this draft is a 400."}
    EVENT = {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"enum": ["revision", "comment", "status", "draft", "presence"]},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
        "retry": {"type": "integer", "minimum": 0}}}

    @extend_schema(parameters=[OpenApiParameter("last_event_id", EVENT_ID, OpenApiParameter.QUERY),
                               OpenApiParameter("Last-Event-ID", EVENT_ID, OpenApiParameter.HEADER)],
                   responses={(200, "text/event-stream"): OpenApiResponse(EVENT, description="The events, as "
                                                                                             "they happen.")})
    def get(self, request, draft_id):
        draft, _ = selectors.draft_for(request.user, draft_id)
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        last_event_id = request.headers.get("Last-Event-ID") or query.validated_data.get("last_event_id")
        after = events.cursor_parse(draft_id=draft.pk, last_event_id=last_event_id)
        response = StreamingHttpResponse(events.stream(draft.pk, request.user.username, after),
                                         content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
