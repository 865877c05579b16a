"""Comments on a draft: threads anchored to a range of a revision, replies, resolve and reopen."""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.serializers import ListFilterSerializer, NoInput, Pagination, StrictSerializer
from drafting import comments, selectors


@extend_schema_serializer(component_name="DraftAnchor")
class AnchorSerializer(serializers.Serializer):
    start = serializers.IntegerField()
    end = serializers.IntegerField()


@extend_schema_serializer(component_name="DraftCommentReply")
class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    body = serializers.CharField()
    mentions = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="DraftComment")
class CommentSerializer(ReplySerializer):
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    revision = serializers.IntegerField(source="revision_number", allow_null=True)
    start = serializers.IntegerField(source="anchor_start", allow_null=True)
    end = serializers.IntegerField(source="anchor_end", allow_null=True)
    quote = serializers.CharField()
    anchor = serializers.SerializerMethodField(help_text="Where the quote is in the current revision: its offsets "
                                                         "there, or null when it was edited away.")
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)
    replies = serializers.SerializerMethodField()

    @extend_schema_field(AnchorSerializer(allow_null=True))
    def get_anchor(self, comment):
        content = self.context.get("content")
        found = comments.anchor_locate(comment, content) if content is not None else None
        return {"start": found[0], "end": found[1]} if found else None

    @extend_schema_field(ReplySerializer(many=True))
    def get_replies(self, comment):
        if comment.parent_id is not None:
            return []
        return ReplySerializer(comment.replies.all(), many=True).data


class CommentsApi(APIView):
    """The draft's threads, oldest first (`resolved=true|false` to choose); POST a comment on a range of a
    revision (`start`, `end`; the current revision unless `revision`; `quote` checked when sent) or, with
    `parent`, a reply. Each @username of a member who may read the draft is told once, through their chat."""

    pagination_class = Pagination

    class FilterSerializer(ListFilterSerializer):
        resolved = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema_serializer(component_name="DraftCommentInput")
    class InputSerializer(StrictSerializer):
        body = serializers.CharField(max_length=10000)
        parent = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                          default=None)
        revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                            default=None)
        start = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True,
                                         default=None)
        end = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False, allow_null=True,
                                       default=None)
        quote = serializers.CharField(max_length=10000, required=False, allow_null=True, default=None,
                                      trim_whitespace=False)

    @extend_schema(parameters=[FilterSerializer], responses=CommentSerializer(many=True))
    def get(self, request, draft_id):
        filters = self.FilterSerializer.filters(request)
        draft, _ = selectors.draft_for(request.user, draft_id)
        threads = selectors.comments_of(draft, resolved=filters.get("resolved"))
        page = self.pagination_class()
        rows = page.paginate_queryset(threads, request, view=self)
        return page.get_paginated_response(CommentSerializer(rows, many=True, context={"content": draft.content}).data)

    @extend_schema(request=InputSerializer, responses={201: CommentSerializer})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        comment = comments.comment_create(user=request.user, draft_id=draft_id, parent_id=data.pop("parent"), **data)
        return Response(_comment_body(comment), status=201)


def _comment_body(comment) -> dict:
    return CommentSerializer(comment, context={"content": comment.draft.content}).data


class CommentResolveApi(APIView):
    """Resolve a thread (its author, the draft's editors, tenant admins); again: no change."""

    @extend_schema(request=None, responses=CommentSerializer)
    def post(self, request, draft_id, comment_id):
        NoInput.check(request)
        return Response(_comment_body(comments.comment_resolve(user=request.user, draft_id=draft_id,
                                                               comment_id=comment_id)))


class CommentReopenApi(APIView):
    """Reopen a resolved thread; an open one: no change."""

    @extend_schema(request=None, responses=CommentSerializer)
    def post(self, request, draft_id, comment_id):
        NoInput.check(request)
        return Response(_comment_body(comments.comment_reopen(user=request.user, draft_id=draft_id,
                                                              comment_id=comment_id)))
