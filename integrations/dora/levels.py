"""The DORA performance levels (elite, high, medium, low) of each metric, by the thresholds of the State of
DevOps report named in settings.DORA_REPORT_YEAR (2021 or 2023), as Apache DevLake's DORA dashboard reads them
(grafana/dashboards/DORA.json, `$dora_report`; its benchmark tables:
backend/plugins/dora/models/migrationscripts/20240223_add_dora_2023_benchmark.go). The reports:
https://dora.dev/research/2021/dora-report/ and https://dora.dev/research/2023/dora-report/.

                         2021                                    2023
deployment frequency     elite: median deploy days/week ≥ 5      elite: median deploy days/week ≥ 5
                         high: median deploy days/month ≥ 1      high: median deploy days/week ≥ 1
                         medium: median days/half-year ≥ 1       medium: median deploy days/month ≥ 1
lead time for changes    < 1 hour, < 1 week, < 6 months (180 d)  < 1 day, < 1 week, < 1 month (30 d)
change failure rate      ≤ 15 %, ≤ 20 %, ≤ 30 %                  ≤ 5 %, ≤ 10 %, ≤ 15 %
time to restore service  < 1 hour, < 1 day, < 1 week (both years)
(elite, high, medium; anything else is low; no data: no level)

Overall level: the lowest level among the metrics that have one (a team is as fast and as stable as its
weakest figure); none when no metric has data. DevLake shows no overall level; this rule is Emma's."""

from django.conf import settings

ELITE, HIGH, MEDIUM, LOW = "elite", "high", "medium", "low"
LEVELS = (ELITE, HIGH, MEDIUM, LOW)
REPORT_YEARS = (2021, 2023)
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400

LEAD_TIME = {2021: (HOUR, WEEK, 180 * DAY), 2023: (DAY, WEEK, 30 * DAY)}
RESTORE = {2021: (HOUR, DAY, WEEK), 2023: (HOUR, DAY, WEEK)}
CHANGE_FAILURE = {2021: (0.15, 0.20, 0.30), 2023: (0.05, 0.10, 0.15)}


def report_year(year: int | None = None) -> int:
    """The report whose thresholds apply: the one asked for, else the setting; an unknown year is refused."""
    year = int(year or settings.DORA_REPORT_YEAR)
    if year not in REPORT_YEARS:
        raise ValueError(f"DORA_REPORT_YEAR must be one of {REPORT_YEARS}, not {year}")
    return year


def _below(value, limits, *, inclusive: bool = False) -> str | None:
    if value is None:
        return None
    for level, limit in zip((ELITE, HIGH, MEDIUM), limits):
        if value < limit or (inclusive and value == limit):
            return level
    return LOW


def lead_time_level(seconds: float | None, year: int) -> str | None:
    return _below(seconds, LEAD_TIME[year])


def restore_level(seconds: float | None, year: int) -> str | None:
    return _below(seconds, RESTORE[year])


def change_failure_level(rate: float | None, year: int) -> str | None:
    return _below(rate, CHANGE_FAILURE[year], inclusive=True)


def frequency_level(freq: dict, year: int) -> str | None:
    """From the medians of deployment days per week, month and half-year (selectors.frequency)."""
    if freq.get("days_per_week") is None:
        return None
    if freq["days_per_week"] >= 5:
        return ELITE
    if year == 2023:
        return HIGH if freq["days_per_week"] >= 1 else MEDIUM if freq["days_per_month"] >= 1 else LOW
    return HIGH if freq["days_per_month"] >= 1 else MEDIUM if freq["days_per_half_year"] >= 1 else LOW


def overall(found) -> str | None:
    ranked = [LEVELS.index(level) for level in found if level]
    return LEVELS[max(ranked)] if ranked else None


def duration_text(seconds: float | None) -> str:
    """A span as people say it: "45 minutes", "3.5 hours", "2.1 days"; empty when there is none."""
    if seconds is None:
        return ""
    for unit, size in (("week", WEEK), ("day", DAY), ("hour", HOUR), ("minute", 60)):
        if seconds >= size or unit == "minute":
            amount = seconds / size
            shown = f"{amount:.0f}" if amount >= 10 or float(round(amount, 1)).is_integer() else f"{amount:.1f}"
            return f"{shown} {unit}{'' if shown == '1' else 's'}"
    return ""
