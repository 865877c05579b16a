"""Template filters for Emma's admin pages."""

from django import template

from core.admin import pretty_json as pretty_json_html

register = template.Library()


@register.filter
def pretty_json(value):
    """A value as indented JSON in a <pre> block."""
    return pretty_json_html(value)
