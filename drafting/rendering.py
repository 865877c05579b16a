"""Templates rendered so that a hostile one cannot escape, hang or balloon a worker.

- Jinja2's SandboxedEnvironment: no attribute that starts with `_`, no unsafe methods, so
  `{{ ''.__class__.__mro__ }}` is refused (SecurityError), not rendered.
- StrictUndefined: a variable the template uses and the caller did not give is an error, not "".
- A time guard: while the template's own code runs, a trace function checks the deadline on each line
  it executes (a loop of loops cannot outrun it), and `range` is the sandbox's (at most 100,000 items).
- A size guard: the output is built chunk by chunk and refused past the limit; operators and calls that
  could make one huge value in a single step (`'x' * n`, `'%9999999s' % x`, `'x'.center(n)`, a filter
  given a huge number) are refused when a number they are given is over MAX_NUMBER or their result is
  over the size limit.

Variables are checked against the version's JSON Schema (Draft 2020-12) before rendering."""

import os
import re
import sys
import time
from numbers import Number

from django.conf import settings
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from core.errors import Invalid

MAX_NUMBER = 100_000  # the largest number an operator or a call in a template may be given
MAX_DEPTH = 50  # macros calling macros
MAX_GROWTH_BYTES = 256 * 1024 * 1024  # how much the process may grow while a template renders
MEMORY_CHECK_EVERY = 32  # lines of template code between two looks at the process's memory
# Widths and precisions in a format string: `%9999s`, `%.9999f`, `{:>9999}`.
PERCENT_SPEC = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d+))?")
BRACE_SPEC = re.compile(r"\{[^{}]*\}")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class RenderLimit(Exception):
    """The template took too long or made too much."""


def _too_big(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and abs(value) > MAX_NUMBER


def _wide_format(text: str, *, braces: bool) -> bool:
    """Whether a format string asks for a field wider (or more precise) than MAX_NUMBER."""
    specs = BRACE_SPEC.findall(text) if braces else ["".join(found) for found in PERCENT_SPEC.findall(text)]
    return any(int(number) > MAX_NUMBER for spec in specs for number in re.findall(r"\d+", spec))


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None  # not Linux: the time guard alone


class GuardedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%", "//", "+"])

    def __init__(self, max_bytes: int):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.max_bytes = max_bytes
        self.filters = {name: self._guarded(function) for name, function in self.filters.items()}

    def _check(self, result):
        if isinstance(result, (str, bytes, list, tuple)) and len(result) > self.max_bytes:
            raise RenderLimit(f"the template makes a value larger than {self.max_bytes} characters")
        return result

    def _guarded(self, function):
        def guarded(*args, **kwargs):
            if any(_too_big(value) for value in (*args, *kwargs.values())):
                raise RenderLimit(f"a number larger than {MAX_NUMBER} was given to a filter")
            return self._check(function(*args, **kwargs))

        for attribute in ("jinja_pass_arg",):  # keep the filter's context/environment passing
            if hasattr(function, attribute):
                setattr(guarded, attribute, getattr(function, attribute))
        return guarded

    def call_binop(self, context, operator, left, right):
        if operator in ("*", "**", "%") and (_too_big(left) and operator != "%" or _too_big(right)):
            raise RenderLimit(f"a number larger than {MAX_NUMBER} in `{operator}`")
        if operator == "%" and isinstance(left, str) and (_wide_format(left, braces=False) or any(
                _too_big(value) for value in (right if isinstance(right, tuple) else (right,)))):
            raise RenderLimit(f"a number larger than {MAX_NUMBER} in `%`")
        return self._check(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        if any(_too_big(value) for value in (*args, *kwargs.values())):
            raise RenderLimit(f"a number larger than {MAX_NUMBER} was given to a call")
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format (wrap_str_format)
        formatted = getattr(method, "__self__", None)
        if isinstance(formatted, str) and getattr(method, "__name__", "") in ("format", "format_map") and _wide_format(
                formatted, braces=True):
            raise RenderLimit(f"a format field wider than {MAX_NUMBER}")
        return __self._check(super().call(__context, __obj, *args, **kwargs))


class _Deadline:
    """A trace function that raises RenderLimit once the deadline passes, on each line a template's compiled
    code runs (only there: other frames are not traced line by line)."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.depth = self.lines = 0
        start = _resident_bytes()
        self.memory_ceiling = start + MAX_GROWTH_BYTES if start is not None else None

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != "<template>":
            return None
        if event == "call":
            self.depth += 1
            if self.depth > MAX_DEPTH * 4:
                raise RenderLimit("the template calls itself too deeply")
        elif event == "return":
            self.depth -= 1
        if time.monotonic() > self.deadline:
            raise RenderLimit("the template took too long to render")
        self.lines += 1
        if self.memory_ceiling is not None and self.lines % MEMORY_CHECK_EVERY == 0:
            if (_resident_bytes() or 0) > self.memory_ceiling:
                raise RenderLimit("the template uses too much memory")
        return self


TITLE_MAX = 200  # Draft.title's length


def environment() -> GuardedEnvironment:
    return GuardedEnvironment(max_bytes=settings.DRAFT_MAX_CONTENT_BYTES)


def template_check(*, body: str, variables_schema: dict, title: str = "") -> None:
    """A template's body and title must parse and its variables' schema must be a valid Draft 2020-12 schema."""
    errors = {}
    for field, text in (("body", body), ("title", title)):
        try:
            environment().parse(text)
        except TemplateSyntaxError as exc:
            errors[field] = [f"Line {exc.lineno}: {exc.message}"]
    if not isinstance(variables_schema, dict):
        errors["variables_schema"] = ["Expected a JSON Schema object."]
    else:
        try:
            Draft202012Validator.check_schema(variables_schema)
        except SchemaError as exc:
            errors["variables_schema"] = [f"Not a valid JSON Schema (Draft 2020-12): {exc.message}"]
    if errors:
        raise Invalid(details=errors)


def variables_check(*, variables_schema: dict, variables) -> None:
    """400 with one message per violation, each under `variables.<path>`."""
    validator = Draft202012Validator(variables_schema)
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(variables), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(["variables", *map(str, error.absolute_path)])
        errors.setdefault(where, []).append(error.message)
    if errors:
        raise Invalid("The variables do not match the template's schema.", details=errors)


def render(*, body: str, variables: dict, seconds: float | None = None) -> str:
    """The template rendered with the variables, or Invalid saying why not (a syntax error, an undefined
    variable, an unsafe access, too slow, too large)."""
    env = environment()
    limit = env.max_bytes
    seconds = settings.DRAFT_TEMPLATE_RENDER_SECONDS if seconds is None else seconds
    previous = sys.gettrace()
    try:
        template = env.from_string(body)
        chunks, size = [], 0
        sys.settrace(_Deadline(seconds))
        try:
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > limit:
                    raise RenderLimit(f"the output is larger than {limit} characters")
                chunks.append(chunk)
        finally:
            sys.settrace(previous)
        return "".join(chunks)
    except SecurityError as exc:
        raise Invalid("The template tried something the sandbox does not allow.",
                      details={"template": [f"Unsafe: {exc}"]}) from None
    except UndefinedError as exc:
        raise Invalid("The template uses a variable that was not given.",
                      details={"variables": [str(exc)]}) from None
    except RenderLimit as exc:
        raise Invalid("The template could not be rendered within its limits.",
                      details={"template": [str(exc)]}) from None
    except RecursionError:
        raise Invalid("The template calls itself too deeply.", details={"template": ["Too deep."]}) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise Invalid("The template could not be rendered.", details={"template": [str(exc)]}) from None


def render_version(version, variables: dict) -> tuple[str, str]:
    """A template version's title (one line, at most TITLE_MAX characters) and body, rendered with the variables."""
    title = " ".join(render(body=version.title, variables=variables).split())[:TITLE_MAX]
    return title, render(body=version.body, variables=variables)
