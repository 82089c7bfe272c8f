"""EventBridge Scheduler schedule expressions evaluated offline: when ``cron(...)`` and ``rate(...)`` fire.

The offline triggers (:mod:`localrun.triggers`) fire the deployed schedules on the runtime's virtual clock.
What EventBridge Scheduler documents, and what this does ("Schedule types on EventBridge Scheduler"):

* cron: six fields ``minutes hours day-of-month month day-of-week year`` evaluated in the schedule's time
  zone; ``*``, ``?`` (day-of-month / day-of-week), lists ``a,b``, ranges ``a-b``, steps ``a/n`` and
  ``a-b/n``, month names ``JAN``-``DEC`` and day names ``SUN``-``SAT`` (1 = SUN ... 7 = SAT).
  ``L``, ``W`` and ``#`` are not supported here (:class:`CronError`): no configuration of this project
  uses them.
* daylight saving time: a local time that does not exist (the clock springs forward over it) is skipped;
  one that occurs twice (the clock falls back) fires once, at its first occurrence.
* rate: ``rate(n minutes|hours|days)`` fires when the schedule is created (no ``StartDate``) and every
  ``n`` units after.
* precision: Scheduler invokes the target within the minute (``1:00:00``-``1:00:59``); offline it fires on
  the minute's first second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_CRON = re.compile(r"^cron\((?P<fields>[^)]+)\)$")
_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# How far ahead to look for the next fire time (a cron with a year list can lie years ahead).
_SEARCH_DAYS = 5 * 366


class CronError(ValueError):
    """A schedule expression this evaluator does not accept (malformed, or a feature it does not model)."""


def _value(token: str, names: tuple[str, ...], first: int) -> int:
    upper = token.upper()
    if upper in names:
        return names.index(upper) + first
    if not token.isdigit():
        raise CronError(f"{token!r} is not a number{' or a name' if names else ''}")
    return int(token)


def _field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> frozenset[int] | None:
    """The values one field allows (``None`` for ``*`` / ``?``: any)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise CronError(f"bad step in {part!r}")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _value(first, names, low), _value(last, names, low)
        else:
            start = _value(span, names, low)
            end = high if step else start
        if not low <= start <= end <= high:
            raise CronError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed ``cron(...)`` expression of EventBridge Scheduler."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int] | None
    days_of_week: frozenset[int] | None  # 1 = SUN ... 7 = SAT
    years: frozenset[int] | None

    @classmethod
    def parse(cls, expression: str) -> Cron:
        match = _CRON.match(expression.strip())
        fields = match["fields"].split() if match else []
        if len(fields) != 6:
            raise CronError(f"{expression!r}: expected cron(minutes hours day-of-month month day-of-week year)")
        if any(ch in "LW#" for ch in fields[2] + fields[4]):
            raise CronError(f"{expression!r}: L, W and # are not supported offline")
        try:
            minutes = _field(fields[0], 0, 59)
            hours = _field(fields[1], 0, 23)
            return cls(
                minutes=minutes if minutes is not None else frozenset(range(60)),
                hours=hours if hours is not None else frozenset(range(24)),
                days_of_month=_field(fields[2], 1, 31),
                months=_field(fields[3], 1, 12, _MONTHS),
                days_of_week=_field(fields[4], 1, 7, _DAYS),
                years=_field(fields[5], 1970, 2199),
            )
        except CronError as exc:
            raise CronError(f"{expression!r}: {exc}") from exc

    def _day_matches(self, day: date) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if self.months is not None and day.month not in self.months:
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        weekday = (day.isoweekday() % 7) + 1  # Monday = 1 in ISO; here SUN = 1 ... SAT = 7
        return self.days_of_week is None or weekday in self.days_of_week

    def next_after(self, instant: datetime, timezone: str) -> datetime:
        """The first fire time strictly after ``instant`` (aware), in UTC."""
        zone = ZoneInfo(timezone)
        local = instant.astimezone(zone)
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self._day_matches(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    fire = _existing(datetime(day.year, day.month, day.day, hour, minute), zone)
                    if fire is not None and fire > instant:
                        return fire.astimezone(UTC)
        raise CronError(f"no fire time within {_SEARCH_DAYS} days after {instant.isoformat()}")


def _existing(naive: datetime, zone: ZoneInfo) -> datetime | None:
    """``naive`` local time in ``zone`` (its first occurrence), or ``None`` when the zone skips it (DST)."""
    aware = naive.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return aware


def rate_seconds(expression: str) -> float:
    """The interval of ``rate(n unit)`` in seconds."""
    match = _RATE.match(expression.strip())
    if not match or int(match["value"]) < 1:
        raise CronError(f"{expression!r}: expected rate(n minutes|hours|days) with n >= 1")
    return float(int(match["value"]) * _UNIT_SECONDS[match["unit"].rstrip("s")])


def scheduled_time(instant: datetime) -> str:
    """``<aws.scheduler.scheduled-time>`` as Scheduler renders it: UTC, seconds, ``Z`` (2022-03-22T18:59:43Z)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["Cron", "CronError", "rate_seconds", "scheduled_time"]
