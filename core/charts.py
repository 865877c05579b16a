"""Small charts for the admin's home page, drawn on the server as inline SVG: no build step, no CDN,
nothing to download. Each chart says in words what it shows (its caption, which screen readers read in place of the drawing),
and every bar carries its label and value as a tooltip."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT = 240, 60  # the viewBox; the SVG itself is as wide as its panel


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def bar_chart(points: Sequence[tuple[str, float]], *, title: str, unit: str = "", total: bool = True) -> str:
    """Bars for (label, value) pairs in order, e.g. tasks per hour. The caption names the peak and, when
    the values add up to something meaningful (`total`), the sum."""
    points = [(label, float(value or 0)) for label, value in points]
    peak_label, peak = max(points, key=lambda point: point[1], default=("", 0.0))
    words = [f"peak {_number(peak)}{unit} at {peak_label}" if peak else "none"]
    if total and peak:
        words.insert(0, f"{_number(sum(value for _, value in points))}{unit} in all")
    caption = f"{title}: {', '.join(words)}"
    step = WIDTH / max(len(points), 1)
    bars = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}{}</title></rect>', (
        (f"{i * step + step * 0.1:.2f}", f"{HEIGHT - height:.2f}", f"{step * 0.8:.2f}", f"{height:.2f}", label,
         _number(value), unit)
        for i, (label, value) in enumerate(points)
        for height in [max(value / peak * (HEIGHT - 2), 1.0 if value else 0.0) if peak else 0.0]))
    first, last = (points[0][0], points[-1][0]) if points else ("", "")
    return format_html(
        '<figure class="emma-chart"><svg viewBox="0 0 {} {}" preserveAspectRatio="none" aria-hidden="true">'
        '<line x1="0" y1="{}" x2="{}" y2="{}" class="axis"></line>{}</svg>'
        '<figcaption><span class="axis-labels"><span>{}</span><span>{}</span></span>{}</figcaption></figure>',
        WIDTH, HEIGHT, HEIGHT - 0.5, WIDTH, HEIGHT - 0.5, bars, first, last, caption)


def meter(used: float, limit: float | None, *, label: str, unit: str = "") -> str:
    """How much of a limit is used, as a bar and in words; the words carry the state, not the colour."""
    if not limit:
        return format_html('<p class="emma-meter-text">{}: {}{} used; no limit is set.</p>', label, _number(used), unit)
    share = used / limit
    state = "over the limit" if share > 1 else "nearly used up" if share >= 0.8 else "within the limit"
    return format_html(
        '<div class="emma-meter {}" aria-hidden="true"><span style="width:{}%"></span></div>'
        '<p class="emma-meter-text">{}: {}{} of {}{} ({}), {}.</p>',
        "over" if share > 1 else "high" if share >= 0.8 else "ok", f"{min(share, 1) * 100:.1f}",
        label, _number(used), unit, _number(limit), unit, f"{share:.0%}", state)
