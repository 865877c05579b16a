"""The webhook registry's API, for tenant admins: their endpoints of each provider (/api/integrations/endpoints),
the providers they can register (/api/integrations/providers), and their deliveries, replayed one by one or
redriven from the dead letters in bulk (/api/integrations/deliveries)."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.schema import error_response
from core.selectors import membership_for_user
from core.serializers import IsTenantAdmin, ListFilterSerializer, NoInput, Pagination, StrictSerializer, paginated_response
from integrations import providers, registry, selectors, services
from integrations.models import WebhookDelivery, WebhookEndpoint

NO_STORE = {"Cache-Control": "no-store"}


def _tenant_id(request) -> int:
    return membership_for_user(request.user).tenant_id


def _registration(endpoint: WebhookEndpoint) -> providers.Registration | None:
    try:
        return providers.provider(endpoint.provider).registration
    except KeyError:  # a provider since removed from the code
        return None


@extend_schema_serializer(component_name="WebhookEndpointOutput")
class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    provider = serializers.CharField()
    name = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="Paste it into the tool's webhook settings.")
    options = serializers.DictField(child=serializers.CharField())
    enabled = serializers.BooleanField(help_text="Off: the URL answers 404 and stores nothing.")
    verification = serializers.SerializerMethodField(help_text="How a delivery to it is verified.")
    signs = serializers.SerializerMethodField(help_text="False: the provider cannot sign; the secret travels as "
                                                        "is (a header or the URL), so keep the URL private.")
    previous_secret_valid_until = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True,
                                                            help_text="During a rotation's overlap, the "
                                                                      "previous secret verifies until then.")
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)

    def get_url(self, endpoint) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(endpoint.path) if request else endpoint.path

    def get_verification(self, endpoint) -> str:
        registration = _registration(endpoint)
        return registration.describe(endpoint.options or {}) if registration else ""

    def get_signs(self, endpoint) -> bool:
        registration = _registration(endpoint)
        return bool(registration and registration.signs)


@extend_schema_serializer(component_name="WebhookEndpointCreated")
class EndpointCreatedSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(help_text="The endpoint's secret, shown this once: only an encrypted copy is "
                                             "kept. Give it to the tool (signing secret, token or header value).")


def _endpoint_data(request, endpoint, secret: str | None = None) -> dict:
    if secret is None:
        return EndpointOutputSerializer(endpoint, context={"request": request}).data
    endpoint.secret = secret
    return EndpointCreatedSerializer(endpoint, context={"request": request}).data


class EndpointsApi(APIView):
    """The tenant's webhook endpoints (tenant admins): list them, or register one; its secret is in this answer
    only."""

    permission_classes = (IsTenantAdmin,)
    pagination_class = Pagination

    @extend_schema_serializer(component_name="WebhookEndpointCreateInput")
    class InputSerializer(StrictSerializer):
        provider = serializers.ChoiceField(choices=[provider.name for provider in providers.registrable()])
        name = serializers.CharField(max_length=100)
        options = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True),
                                        required=False, default=dict,
                                        help_text="The provider's options (GET /api/integrations/providers).")
        secret = serializers.CharField(required=False, max_length=500, help_text=(
            "The secret the vendor issued, where it makes its own (PagerDuty, Linear, Sentry); left out, Emma "
            "makes one."))

    @extend_schema_serializer(component_name="WebhookEndpointListFilter")
    class FilterSerializer(ListFilterSerializer):
        provider = serializers.CharField(required=False, max_length=32)

    @extend_schema(parameters=[FilterSerializer], responses=EndpointOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer.filters(request)
        endpoints = selectors.endpoints_of_tenant(tenant_id=_tenant_id(request)).select_related("created_by")
        if filters.get("provider"):
            endpoints = endpoints.filter(provider=filters["provider"])
        return paginated_response(request, self, endpoints, EndpointOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: EndpointCreatedSerializer, 409: error_response(
        "The tenant has an endpoint of this provider by this name already (`conflict`).")})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint, secret = registry.endpoint_create(tenant_id=_tenant_id(request), user=request.user,
                                                    **payload.validated_data)
        return Response(_endpoint_data(request, endpoint, secret), status=201, headers=NO_STORE)


class EndpointDetailApi(APIView):
    """One endpoint: read it, rename it, change its options, or switch it off (404, nothing stored) and on."""

    permission_classes = (IsTenantAdmin,)

    @extend_schema_serializer(component_name="WebhookEndpointUpdateInput")
    class InputSerializer(StrictSerializer):
        name = serializers.CharField(max_length=100, required=False)
        enabled = serializers.BooleanField(required=False)
        options = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True),
                                        required=False)

    @extend_schema(responses=EndpointOutputSerializer)
    def get(self, request, endpoint_id):
        endpoint = selectors.endpoints_of_tenant(tenant_id=_tenant_id(request)).filter(pk=endpoint_id).first()
        if endpoint is None:
            raise NotFound("No such endpoint.")
        return Response(_endpoint_data(request, endpoint))

    @extend_schema(request=InputSerializer, responses={200: EndpointOutputSerializer, 409: error_response(
        "The tenant has an endpoint of this provider by this name already (`conflict`).")})
    def patch(self, request, endpoint_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint = registry.endpoint_update(tenant_id=_tenant_id(request), endpoint_id=endpoint_id,
                                            user=request.user, **payload.validated_data)
        return Response(_endpoint_data(request, endpoint))


class EndpointRotateApi(APIView):
    """A new secret for an endpoint, in this answer only; the previous one still verifies for the overlap
    (default a day, at most a week; 0 ends it at once)."""

    permission_classes = (IsTenantAdmin,)

    @extend_schema_serializer(component_name="WebhookEndpointRotateInput")
    class InputSerializer(StrictSerializer):
        overlap_seconds = serializers.IntegerField(
            required=False, min_value=0, max_value=int(registry.MAX_OVERLAP.total_seconds()),
            default=int(registry.DEFAULT_OVERLAP.total_seconds()))
        secret = serializers.CharField(required=False, max_length=500, help_text=(
            "The new secret the vendor issued, where it makes its own; left out, Emma makes one."))

    @extend_schema(request=InputSerializer, responses=EndpointCreatedSerializer)
    def post(self, request, endpoint_id):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint, secret = registry.endpoint_rotate(
            tenant_id=_tenant_id(request), endpoint_id=endpoint_id, user=request.user,
            overlap=timedelta(seconds=payload.validated_data["overlap_seconds"]),
            secret=payload.validated_data.get("secret"))
        return Response(_endpoint_data(request, endpoint, secret), headers=NO_STORE)


@extend_schema_serializer(component_name="WebhookProviderOption")
class OptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    help = serializers.CharField()
    default = serializers.CharField()


@extend_schema_serializer(component_name="WebhookProviderOutput")
class ProviderOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    signs = serializers.BooleanField()
    verification = serializers.CharField()
    options = OptionSerializer(many=True)
    enabled = serializers.BooleanField(help_text="Off for this deployment (INTEGRATIONS_<NAME>_ENABLED).")


class ProvidersApi(APIView):
    """The providers a tenant can register endpoints of: how each is verified and the options it takes."""

    permission_classes = (IsTenantAdmin,)

    @extend_schema(responses=ProviderOutputSerializer(many=True))
    def get(self, request):
        return Response(ProviderOutputSerializer([{
            "name": provider.name, "title": provider.title or provider.name, "signs": provider.registration.signs,
            "verification": provider.registration.describe({}), "options": provider.registration.options,
            "enabled": providers.enabled(provider.switch)} for provider in providers.registrable()], many=True).data)


@extend_schema_serializer(component_name="WebhookDeliveryOutput")
class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    endpoint = serializers.UUIDField(source="endpoint_id", allow_null=True)
    event_type = serializers.CharField()
    dedup_key = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices,
                                     help_text="failed: a dead letter, retried no more until redriven.")
    verification = serializers.CharField()
    headers = serializers.DictField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    replays = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="WebhookDeliveryDetail")
class DeliveryDetailSerializer(DeliveryOutputSerializer):
    body = serializers.CharField()


class DeliveriesApi(APIView):
    """The tenant's webhook deliveries, newest first: how each was verified and how its processing went."""

    permission_classes = (IsTenantAdmin,)
    pagination_class = Pagination

    @extend_schema_serializer(component_name="WebhookDeliveryListFilter")
    class FilterSerializer(ListFilterSerializer):
        status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
        provider = serializers.CharField(required=False, max_length=32)
        endpoint = serializers.UUIDField(required=False)
        event_type = serializers.CharField(required=False, max_length=100)

    @extend_schema(parameters=[FilterSerializer], responses=DeliveryOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer.filters(request)
        endpoint_id = filters.pop("endpoint", None)
        deliveries = selectors.deliveries_of_tenant(tenant_id=_tenant_id(request), endpoint_id=endpoint_id,
                                                    **filters)
        return paginated_response(request, self, deliveries, DeliveryOutputSerializer)


class DeliveryDetailApi(APIView):
    permission_classes = (IsTenantAdmin,)

    @extend_schema(responses=DeliveryDetailSerializer)
    def get(self, request, delivery_id: int):
        delivery = selectors.deliveries_of_tenant(tenant_id=_tenant_id(request)).filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayApi(APIView):
    """Process a delivery again. What it did before is not done twice (tasks and replies carry the delivery's
    idempotency keys; engineering events update their rows). 409 while it still waits to be processed."""

    permission_classes = (IsTenantAdmin,)

    @extend_schema(request=None, responses={202: DeliveryOutputSerializer, 409: error_response(
        "The delivery is waiting to be processed already (`conflict`).")})
    def post(self, request, delivery_id: int):
        NoInput.check(request)
        delivery = services.delivery_replay(delivery_id=delivery_id, tenant_id=_tenant_id(request))
        return Response(DeliveryOutputSerializer(delivery).data, status=202)


@extend_schema_serializer(component_name="WebhookRedriveOutput")
class RedriveOutputSerializer(serializers.Serializer):
    redriven = serializers.IntegerField(help_text="How many dead letters are queued to be processed again.")


class DeliveriesRedriveApi(APIView):
    """Dead letters (`failed` deliveries) processed again, in bulk: those named, else all of the tenant's
    (of one provider), at most 1000 a call."""

    permission_classes = (IsTenantAdmin,)

    @extend_schema_serializer(component_name="WebhookRedriveInput")
    class InputSerializer(StrictSerializer):
        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
        provider = serializers.CharField(required=False, max_length=32, default="")

    @extend_schema(request=InputSerializer, responses={202: RedriveOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        count = services.deliveries_redrive(tenant_id=_tenant_id(request), **payload.validated_data)
        return Response({"redriven": count}, status=202)

