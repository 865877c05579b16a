"""The published OpenAPI schema (drf-spectacular) says what the API really does, for every app at once:

- a query parameter that carries JSON (a binary JSONField) says so: `content: application/json`;
- every operation lists the errors it can answer, each in the one error body (core.errors), from what
  the operation is: a body or parameters can be invalid (400), a secured operation needs a token (401)
  and a tenant role (403), a path names something that may not exist (404), a body may be too large
  (413) or not JSON (415), and every API view is rate limited (429). A view adds its own (a 409) with
  `@extend_schema(responses={409: error_response("...")})`;
- a nested list of serializers keeps its length limits (`allow_empty`, `min_length`, `max_length`);
- a strict input serializer (core.serializers.StrictSerializer) refuses unknown fields:
  `additionalProperties: false`;
- a decimal is a string that DecimalField accepts, negative only where its minimum allows;
- a string the serializer trims and may not be blank has something besides whitespace in it.

Tests: tests/test_schema_fuzz.py sends what this schema allows (and what it forbids) to every operation."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from core.serializers import ErrorSerializer, StrictSerializer

ERRORS = {
    400: "The request is invalid: `details` names each field with its messages (`validation_error`), or the "
         "body is not JSON (`parse_error`).",
    401: "No token, or one that is malformed, forged or expired (`not_authenticated`, `token_not_valid`), or an "
         "API key that is unknown, revoked or expired (`api_key_not_valid`).",
    403: "The caller's role in their tenant does not allow this, or they belong to no tenant "
         "(`permission_denied`).",
    404: "Nothing with this id in the caller's tenant, or a page past the last (`not_found`).",
    413: "The body is larger than the deployment's MAX_PAYLOAD_BYTES (`payload_too_large`, `details.max_bytes`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    429: "More requests this minute than the deployment's RATE_LIMIT_PER_MIN (`throttled`, "
         "`details.retry_after_seconds`); try again after `Retry-After` seconds.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds until the next minute's requests are allowed.",
                               "schema": {"type": "integer", "minimum": 1}}}


def error_response(description: str) -> OpenApiResponse:
    """An error a view answers besides those every operation of its kind answers (ERRORS)."""
    return OpenApiResponse(ErrorSerializer, description=description)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, with the errors each operation can answer (a view's own declarations win)."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter.get("schema", {}).get("contentMediaType") == "application/json":
                parameter["content"] = {"application/json": {"schema": parameter.pop("schema")["contentSchema"]}}
        error = {"application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}}
        for status in self._error_statuses(operation):
            response = {"description": ERRORS[status], "content": error}
            if status == 429:
                response["headers"] = RETRY_AFTER
            operation["responses"].setdefault(str(status), response)
        return operation

    def _error_statuses(self, operation) -> list[int]:
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        body = "requestBody" in operation
        secured = bool(operation.get("security")) and {} not in operation["security"]
        statuses = []
        if body or locations & {"query", "header"}:
            statuses.append(400)
        if secured:
            statuses += [401, 403]
        if "path" in locations or "page" in names:
            statuses.append(404)
        if body:
            statuses += [413, 415]
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.JSONField) and field.binary:  # JSON in a string: a query parameter
            return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}
        if isinstance(schema, dict) and schema.get("oneOf") == [{}, {"type": "null"}]:
            # A nullable JSON field: any JSON already includes null, and `null` would match both (not oneOf).
            return {key: value for key, value in schema.items() if key != "oneOf"}
        if isinstance(field, serializers.ListSerializer) and "array" in _types(schema):
            # Nested `many=True` serializers: drf-spectacular leaves their length limits out.
            limits = {"minItems": field.min_length if field.min_length is not None else int(not field.allow_empty),
                      "maxItems": field.max_length}
            return {**schema, **{key: value for key, value in limits.items() if value}}
        if not isinstance(schema, dict) or "string" not in _types(schema):
            return schema
        if isinstance(field, serializers.DecimalField) and field.max_digits is not None:
            return {**schema, "pattern": _decimal_pattern(field)}
        if (direction == "request" and isinstance(field, serializers.CharField) and field.trim_whitespace
                and not field.allow_blank and "pattern" not in schema):
            return {**schema, "pattern": r"\S"}
        return schema


def _types(schema: dict) -> list:
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]


def _decimal_pattern(field) -> str:
    """What DecimalField accepts: drf-spectacular's pattern allows a sign below a minimum of 0, and "" and
    "." that are no Decimal at all."""
    places, whole = field.decimal_places, field.max_digits - field.decimal_places
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    number = rf"\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}}" if places else rf"\d{{1,{whole}}}"
    return rf"^{sign}(?:{number})$"


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = "core.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if schema.get("description") == StrictSerializer.__doc__:  # inherited: says nothing of this input
            del schema["description"]
        return {**schema, "additionalProperties": False}
