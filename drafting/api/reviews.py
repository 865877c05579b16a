"""A draft's reviews: each decided as a governance escalation, whose outcome moves the draft."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import error_response
from core.serializers import StrictSerializer
from drafting import reviews, selectors
from drafting.models import Review
from governance.selectors import escalation_for_task

NOT_A_DRAFT = error_response("The draft is not a draft, or is in review already (`conflict`, `details.status`).")


@extend_schema_serializer(component_name="DraftReview")
class ReviewSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    escalation_id = serializers.SerializerMethodField(
        help_text="Its escalation now (the open tier while it waits): decide it at /api/escalations/{id}.")

    class Meta:
        model = Review
        fields = ["id", "revision", "status", "requested_by", "request_note", "escalation_id", "decided_by", "note",
                  "created_at", "decided_at"]

    def get_escalation_id(self, review) -> str | None:
        escalation = escalation_for_task(task_id=review.pk)
        return str(escalation.pk) if escalation else (str(review.escalation_id) if review.escalation_id else None)


class DraftReviewApi(APIView):
    """Submit the draft for review (as `action: submit` on …/transition): draft → in_review, and an escalation
    to the tenant's reviewers: the policy's ladder, on the approval screens, /api/escalations, Slack and SMS.
    Its decision moves the draft: approved, or back to draft with what should change."""

    @extend_schema_serializer(component_name="DraftReviewInput")
    class InputSerializer(StrictSerializer):
        note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: ReviewSerializer, 409: NOT_A_DRAFT})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        review = reviews.review_submit(user=request.user, draft_id=draft_id, correlation_id=request.correlation_id,
                                       **payload.validated_data)
        return Response(ReviewSerializer(review).data, status=201)


class DraftReviewsApi(APIView):
    """The draft's reviews, newest first: each revision submitted, its escalation and how it was decided."""

    @extend_schema(responses=ReviewSerializer(many=True))
    def get(self, request, draft_id):
        draft, _ = selectors.draft_for(request.user, draft_id)
        found = Review.objects.filter(draft=draft).select_related("requested_by", "decided_by")
        return Response(ReviewSerializer(found, many=True).data)
