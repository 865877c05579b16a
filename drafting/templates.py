"""Templates: created and changed by tenant admins, each change a new version; rendered in a sandbox
(drafting.rendering) for a preview or a new draft's first revision."""

from django.db import IntegrityError, transaction

from core.errors import Conflict, Forbidden, Invalid
from core.models import Membership
from core.selectors import membership_for_user
from drafting import rendering
from drafting.models import Template, TemplateVersion
from drafting.selectors import template_for, template_version_of


def _admin_of(user) -> Membership:
    membership = membership_for_user(user)
    if membership.role != Membership.Role.ADMIN:
        raise Forbidden("Only tenant admins manage templates.")
    return membership


@transaction.atomic
def template_create(*, user, name: str, body: str, title: str, doc_type: str = "free", description: str = "",
                    variables_schema: dict | None = None) -> Template:
    """A new template with its version 1; the body must parse and the schema be a Draft 2020-12 schema."""
    variables_schema = {} if variables_schema is None else variables_schema
    rendering.template_check(body=body, variables_schema=variables_schema, title=title)
    tenant_id = _admin_of(user).tenant_id
    try:
        with transaction.atomic():
            template = Template.objects.create(tenant_id=tenant_id, name=name, description=description, version=1,
                                               created_by=user)
    except IntegrityError:
        raise Conflict(f"The tenant has a template named {name!r} already.") from None
    TemplateVersion.objects.create(template=template, number=1, title=title, doc_type=doc_type, body=body,
                                   variables_schema=variables_schema, author=user)
    return template


@transaction.atomic
def template_update(*, user, template_id, **changes) -> Template:
    """A new version: the current one with the changes (body, title, doc_type, variables_schema); a new
    name or description changes the template itself."""
    template = template_for(user, template_id)
    _admin_of(user)
    template = Template.objects.select_for_update().get(pk=template.pk)
    current = template_version_of(template)
    for name in ("name", "description"):
        if name in changes:
            setattr(template, name, changes.pop(name))
    version_fields = {"body": current.body, "title": current.title, "doc_type": current.doc_type,
                      "variables_schema": current.variables_schema}
    if any(name in changes and changes[name] != version_fields[name] for name in version_fields):
        version_fields.update(changes)
        rendering.template_check(body=version_fields["body"], variables_schema=version_fields["variables_schema"],
                                 title=version_fields["title"])
        template.version += 1
        TemplateVersion.objects.create(template=template, number=template.version, author=user, **version_fields)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise Conflict(f"The tenant has a template named {template.name!r} already.") from None
    return template


def template_preview(*, user, template_id, variables: dict, version: int | None = None) -> dict:
    """The template's version (the current one unless named) rendered with the variables; nothing saved."""
    template = template_for(user, template_id)
    template_version = template_version_of(template, version)
    if not isinstance(variables, dict):
        raise Invalid.field("variables", "Expected a JSON object.")
    rendering.variables_check(variables_schema=template_version.variables_schema, variables=variables)
    title, content = rendering.render_version(template_version, variables)
    return {"template": template.pk, "version": template_version.number, "title": title,
            "doc_type": template_version.doc_type, "content": content}
