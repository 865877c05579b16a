"""The DORA metrics API: the four figures of the caller's tenant (/api/dora/summary) and the deployments,
changes and incidents behind them. Any member of the tenant reads them, and its API keys."""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.serializers import ListFilterSerializer, Pagination, StrictSerializer
from core.selectors import membership_for_user
from integrations.dora import levels, selectors
from integrations.dora.models import Change, Deployment, Incident


class _WindowFields:
    """service, environment, from, to (`from` is a Python keyword: the field is added by name)."""

    def get_fields(self):
        fields = super().get_fields()
        fields["service"] = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                                  help_text="One service; empty or left out: every service.")
        fields["environment"] = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                                      help_text="Default `production` (prod, live: the same).")
        fields["from"] = serializers.DateTimeField(required=False, help_text=(
            "The window's start (ISO 8601). Default: twelve weeks before `to`. At most "
            f"{selectors.MAX_WINDOW.days} days before `to`: an earlier one is moved up to that."))
        fields["to"] = serializers.DateTimeField(required=False, help_text="The window's end, excluded. Default: now.")
        return fields

    def validate(self, data):
        data = super().validate(data)
        if data.get("from") and data["from"] >= (data.get("to") or selectors.now()):
            raise serializers.ValidationError({"from": ["Must be before `to` (default: now)."]})
        return data

    @staticmethod
    def scope(request, tenant_id: int, data: dict) -> selectors.Scope:
        return selectors.scope(tenant_id=tenant_id, service=data.get("service", ""),
                               environment=data.get("environment", ""), start=data.get("from"), end=data.get("to"))


@extend_schema_serializer(component_name="DoraSummaryFilter")
class SummaryFilterSerializer(_WindowFields, StrictSerializer):
    pass


class _ListFilter(_WindowFields, ListFilterSerializer):
    status = serializers.CharField(max_length=32, required=False, allow_blank=True,
                                   help_text="Only this status (deployments: success, failure, in_progress, "
                                             "cancelled).")


@extend_schema_serializer(component_name="DoraDeploymentFilter")
class DeploymentFilterSerializer(_ListFilter):
    pass


@extend_schema_serializer(component_name="DoraChangeFilter")
class ChangeFilterSerializer(_WindowFields, ListFilterSerializer):
    """A change names no service or environment until a deployment ships it: the window and its repository."""

    repository = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                       help_text="Only this repository (as the provider names it, e.g. owner/name).")

    def get_fields(self):
        fields = super().get_fields()
        del fields["service"], fields["environment"]
        return fields


@extend_schema_serializer(component_name="DoraIncidentFilter")
class IncidentFilterSerializer(_ListFilter):
    pass


def _checked(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


LEVEL = serializers.ChoiceField(choices=levels.LEVELS, allow_null=True,
                                help_text="elite, high, medium or low by the DORA_REPORT_YEAR report; null "
                                          "without data.")


@extend_schema_serializer(component_name="DoraOverall")
class OverallSerializer(serializers.Serializer):
    """(Every level is a field named `level`: one enum in the schema.)"""

    level = serializers.ChoiceField(choices=levels.LEVELS, allow_null=True,
                                    help_text="The lowest level among the four; null without data.")


@extend_schema_serializer(component_name="DoraFrequency")
class FrequencySerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["daily", "weekly", "monthly", "yearly"], allow_null=True,
                                     help_text="Four Keys' deployment frequency; null without deployments.")
    per_week = serializers.FloatField(help_text="Successful deployments per week of the window.")
    median_days_per_week = serializers.FloatField(allow_null=True)
    median_days_per_month = serializers.FloatField(allow_null=True)
    level = LEVEL


@extend_schema_serializer(component_name="DoraDuration")
class DurationSerializer(serializers.Serializer):
    median_seconds = serializers.FloatField(allow_null=True)
    text = serializers.CharField(help_text="The median in words, e.g. `3.5 hours`; empty without data.")
    level = LEVEL


@extend_schema_serializer(component_name="DoraRate")
class RateSerializer(serializers.Serializer):
    rate = serializers.FloatField(allow_null=True, help_text="0 to 1; null without deployments.")
    text = serializers.CharField()
    level = LEVEL


@extend_schema_serializer(component_name="DoraCounts")
class CountsSerializer(serializers.Serializer):
    deployments = serializers.IntegerField(help_text="Successful deployments in the window.")
    failed = serializers.IntegerField(help_text="Of those, the ones linked to an incident.")
    changes = serializers.IntegerField(help_text="Changes whose lead time is counted.")
    incidents = serializers.IntegerField(help_text="Incidents opened in the window.")
    resolved = serializers.IntegerField(help_text="Incidents resolved in the window.")


@extend_schema_serializer(component_name="DoraWeek")
class WeekSerializer(serializers.Serializer):
    week = serializers.CharField(help_text="ISO week, e.g. 2024-W05.")
    start = serializers.DateField(help_text="Its Monday.")
    deployments = serializers.IntegerField()
    failed = serializers.IntegerField()
    median_lead_time_seconds = serializers.FloatField(allow_null=True)
    change_failure_rate = serializers.FloatField(allow_null=True)
    median_restore_seconds = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="DoraSummary")
class SummarySerializer(serializers.Serializer):
    service = serializers.CharField()
    environment = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    report_year = serializers.IntegerField()
    deployment_frequency = FrequencySerializer()
    lead_time = DurationSerializer()
    change_failure_rate = RateSerializer()
    time_to_restore = DurationSerializer()
    overall = OverallSerializer()
    counts = CountsSerializer()
    weekly = WeekSerializer(many=True)


class DoraSummaryApi(APIView):
    """The four DORA figures of the caller's tenant over a window, each with its level, the counts behind
    them and a series per ISO week (integrations.dora.selectors says how each is computed)."""

    @extend_schema(parameters=[SummaryFilterSerializer], responses=SummarySerializer)
    def get(self, request):
        data = _checked(SummaryFilterSerializer, request)
        tenant_id = membership_for_user(request.user).tenant_id
        return Response(SummarySerializer(selectors.summary(SummaryFilterSerializer.scope(request, tenant_id,
                                                                                          data))).data)


@extend_schema_serializer(component_name="DoraDeployment")
class DeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="deployment.pk")
    provider = serializers.CharField(source="deployment.provider")
    key = serializers.CharField(source="deployment.key")
    title = serializers.CharField(source="deployment.title")
    url = serializers.CharField(source="deployment.url")
    service = serializers.CharField(source="deployment.service")
    environment = serializers.CharField(source="deployment.environment")
    status = serializers.CharField(source="deployment.status")
    sha = serializers.CharField(source="deployment.sha")
    repository = serializers.CharField(source="deployment.repository")
    started_at = serializers.DateTimeField(source="deployment.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="deployment.finished_at", allow_null=True)
    incident_linked = serializers.BooleanField(help_text="Linked to at least one incident (a change failure).")
    changes = serializers.IntegerField(help_text="The changes it shipped.")
    median_lead_time_seconds = serializers.FloatField(allow_null=True, help_text=(
        "The median lead time of the changes it shipped first; null when none (or not successful)."))


@extend_schema_serializer(component_name="DoraChange")
class ChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Change
        fields = ["id", "provider", "key", "repository", "sha", "title", "url", "author", "authored_at",
                  "committed_at", "pull_request", "merged_at", "push"]


@extend_schema_serializer(component_name="DoraLinkedDeployment")
class LinkedDeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deployment
        fields = ["id", "provider", "key", "service", "environment", "sha", "finished_at"]


@extend_schema_serializer(component_name="DoraIncident")
class IncidentSerializer(serializers.ModelSerializer):
    restore_seconds = serializers.SerializerMethodField()
    deployment = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = ["id", "provider", "key", "title", "url", "service", "environment", "status", "severity",
                  "opened_at", "acknowledged_at", "resolved_at", "root_cause_sha", "deployment_key",
                  "restore_seconds", "deployment"]

    def get_restore_seconds(self, incident) -> float | None:
        found = selectors.restore_seconds([incident])
        return found[0][1] if found else None

    @extend_schema_field(LinkedDeploymentSerializer(allow_null=True))
    def get_deployment(self, incident) -> dict | None:
        linked = self.context["links"].get(incident.pk)
        return LinkedDeploymentSerializer(linked).data if linked else None


def _page(request, view, rows):
    paginator = view.pagination_class()
    return paginator, paginator.paginate_queryset(rows, request, view=view)


class DoraDeploymentsApi(APIView):
    """The deployments of a window (any status unless one is named), newest first, each with whether it is
    linked to an incident and its changes' lead time."""

    pagination_class = Pagination

    @extend_schema(parameters=[DeploymentFilterSerializer], responses=DeploymentSerializer(many=True))
    def get(self, request):
        data = _checked(DeploymentFilterSerializer, request)
        sc = DeploymentFilterSerializer.scope(request, membership_for_user(request.user).tenant_id, data)
        paginator, page = _page(request, self, selectors.deployments_listed(sc, status=data.get("status", "")))
        return paginator.get_paginated_response(
            DeploymentSerializer(selectors.deployments_annotated(page), many=True).data)


class DoraChangesApi(APIView):
    """The changes committed in a window, newest first."""

    pagination_class = Pagination

    @extend_schema(parameters=[ChangeFilterSerializer], responses=ChangeSerializer(many=True))
    def get(self, request):
        data = _checked(ChangeFilterSerializer, request)
        sc = ChangeFilterSerializer.scope(request, membership_for_user(request.user).tenant_id, data)
        paginator, page = _page(request, self, selectors.changes_listed(sc, repository=data.get("repository", "")))
        return paginator.get_paginated_response(ChangeSerializer(page, many=True).data)


class DoraIncidentsApi(APIView):
    """The incidents opened in a window, newest first, each with the deployment it is linked to."""

    pagination_class = Pagination

    @extend_schema(parameters=[IncidentFilterSerializer], responses=IncidentSerializer(many=True))
    def get(self, request):
        data = _checked(IncidentFilterSerializer, request)
        sc = IncidentFilterSerializer.scope(request, membership_for_user(request.user).tenant_id, data)
        paginator, page = _page(request, self, selectors.incidents_listed(sc, status=data.get("status", "")))
        links = selectors.incident_links(page)
        return paginator.get_paginated_response(IncidentSerializer(page, many=True, context={"links": links}).data)

