"""A draft's publications: each an emma task of type `drafting.publish`, governed by the tenant's policy."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import error_response
from core.serializers import StrictSerializer
from drafting import publishing, selectors
from drafting.models import Publication, PublishTarget
from governance.selectors import escalation_for_task

NOT_APPROVED = error_response("The draft is not approved (`conflict`, `details.status`), or this revision went to "
                              "this target with another destination (`details.publication`).")


@extend_schema_serializer(component_name="DraftPublication")
class PublicationSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")
    destination = serializers.DictField()
    receipt = serializers.DictField(help_text="The provider's answer once sent: Slack's message id, the webhook's "
                                              "status code, the email's Message-ID, the GitHub URL.")
    escalation_id = serializers.SerializerMethodField(help_text="Its task's escalation, when the policy asks for "
                                                                "an approval.")

    class Meta:
        model = Publication
        fields = ["id", "revision", "target", "destination", "status", "task_id", "escalation_id", "receipt", "error",
                  "requested_by", "created_at", "published_at"]

    def get_escalation_id(self, publication) -> str | None:
        escalation = escalation_for_task(task_id=publication.task_id) if publication.task_id else None
        return str(escalation.pk) if escalation else None


class DraftPublishApi(APIView):
    """Publish the approved draft's revision to `slack` (`channel`), `email` (`to`, `subject`), `webhook`
    (`url`) or `github` (`repo` and `issue` for a comment, or `title` for a new issue): an emma task of type
    `drafting.publish`, decided by the tenant's policy (allowed, escalated or denied), sent once. 202 with
    the new publication; the same request again, 200 with it (nothing is sent twice)."""

    @extend_schema_serializer(component_name="DraftPublishInput")
    class InputSerializer(StrictSerializer):
        target = serializers.ChoiceField(choices=PublishTarget.choices)
        channel = serializers.RegexField(r"^[#@]?[A-Za-z0-9._-]{1,80}$", max_length=81, required=False,
                                         help_text="slack: a channel (#name or id) or a member id.")
        to = serializers.ListField(child=serializers.EmailField(max_length=254), min_length=1, max_length=20,
                                   required=False, help_text="email: the recipients.")
        subject = serializers.CharField(max_length=200, required=False, help_text="email: default, the title.")
        url = serializers.URLField(max_length=2000, required=False, help_text="webhook: where the JSON is POSTed.")
        repo = serializers.RegexField(publishing.REPO, max_length=201, required=False, help_text="github: owner/name.")
        issue = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False,
                                         help_text="github: comment on this issue or pull request.")
        title = serializers.CharField(max_length=256, required=False,
                                      help_text="github: open a new issue with this title (default, the draft's).")

        def validate(self, data):
            errors = publishing.destination_errors(data["target"], {k: v for k, v in data.items() if k != "target"})
            if errors:
                raise serializers.ValidationError(errors)
            return data

    @extend_schema(request=InputSerializer, responses={202: PublicationSerializer, 200: PublicationSerializer,
                                                       409: NOT_APPROVED})
    def post(self, request, draft_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        destination = dict(payload.validated_data)
        target = destination.pop("target")
        result = publishing.draft_publish(user=request.user, draft_id=draft_id, target=target,
                                          destination=destination, correlation_id=request.correlation_id)
        return Response(PublicationSerializer(result.publication).data, status=202 if result.created else 200)


class DraftPublicationsApi(APIView):
    """Where the draft was published (or is being): each revision and target, its task, status and receipt."""

    @extend_schema(responses=PublicationSerializer(many=True))
    def get(self, request, draft_id):
        draft, _ = selectors.draft_for(request.user, draft_id)
        found = Publication.objects.filter(draft=draft).select_related("requested_by")
        return Response(PublicationSerializer(found, many=True).data)
