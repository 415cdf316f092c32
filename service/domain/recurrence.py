"""Recurring tasks: the contract's RRULE subset, and the next occurrence on local wall time.

A rule is RFC 5545 RRULE text restricted to FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL
(1-1000), BYDAY (ordinals for MONTHLY and YEARLY only), BYMONTHDAY (negative counts from the
end of the month), BYMONTH, BYSETPOS, WKST, and COUNT or UNTIL (never both). `parse_rule`
checks that subset; python-dateutil's `rrule` expands it.

A series runs on naive local wall time in the task's zone: the rule sees 09:00, never an
instant, so 09:00 stays 09:00 across DST. Only when an occurrence becomes a `due_at` is its
wall time resolved to an instant (`resolve`): a wall time in a gap moves forward by the gap,
an ambiguous one takes its first instant. The series keeps the unresolved wall time (the
anchor), so a shifted occurrence shifts alone. An all-day series (`due_date`) runs on
midnights and keeps the dates.

The anchor is the current occurrence: the next one is computed from it, not from the series'
first due, so a client that moves the due keeps the rule and the series continues from the
new due. COUNT is kept as the index of the current occurrence (0 for the first due);
occurrences skipped because they were already past count against it, as in RFC 5545. The
index is exact where COUNT needs it; without COUNT a long-missed stretch is not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekdays

Basis = Literal["due", "completion"]
BASES: tuple[str, ...] = ("due", "completion")

MAX_RULE_LENGTH = 500
MAX_INTERVAL = 1000
# The index of an occurrence is stored as a 32-bit integer.
MAX_COUNT = 2**31 - 1
# How many periods of the rule (days, weeks, months, years) a search may walk past its
# starting point: 20,000 periods is 54 years of a daily rule, longer than the longest gap of
# any daily pattern that matches at all (a 29 February on a given weekday: 40 years); a
# series with nothing inside that horizon ends.
SEARCH_PERIODS = 20_000
# dateutil checks its UNTIL only against occurrences it found, so a rule that matches
# nothing (BYMONTH=2;BYMONTHDAY=30) walks period by period to the year 9999: seconds of CPU
# for a daily rule. The Gregorian calendar repeats exactly every 400 years (146,097 days,
# 20,871 weeks, 4,800 months), so a search moved forward by whole cycles, as close to 9999
# as its horizon allows, finds the same occurrences (moved back afterwards) and walks at
# most one cycle past its horizon when there is nothing to find. This shift is the only
# date arithmetic here that is not dateutil's: rrule has no bound of its own to offer.
GREGORIAN_CYCLE_YEARS = 400

FREQUENCIES: dict[str, int] = {
    "DAILY": DAILY,
    "WEEKLY": WEEKLY,
    "MONTHLY": MONTHLY,
    "YEARLY": YEARLY,
}
_PERIOD_UNIT = {DAILY: "days", WEEKLY: "weeks", MONTHLY: "months", YEARLY: "years"}
DAY_NAMES: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SUPPORTED_PARTS: tuple[str, ...] = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
# RFC 5545 rule parts outside the contract's subset: named in the error, unlike unknown text.
_RFC_ONLY_PARTS = frozenset({"BYSECOND", "BYMINUTE", "BYHOUR", "BYYEARDAY", "BYWEEKNO"})
_RFC_ONLY_FREQUENCIES = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})

_NAME = re.compile(r"[A-Z]{1,20}")
_NUMBER = re.compile(r"([+-]?)([0-9]{1,4})")
_DAY = re.compile(r"(?:([+-]?)([0-9]{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2})([0-9]{2})([0-9]{2})(Z?))?")


class RecurrenceError(ValueError):
    """A recurrence rule outside the supported subset; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Until:
    """The UNTIL bound: a date, a floating local time, or a UTC instant (RFC 5545 forms)."""

    kind: Literal["date", "local", "utc"]
    value: date | datetime

    def admits(self, wall: datetime, instant: datetime) -> bool:
        """Return whether an occurrence (local wall time, resolved UTC instant) is in bounds."""
        if self.kind == "date":
            return wall.date() <= self.value  # type: ignore[operator]
        if self.kind == "local":
            return wall <= self.value  # type: ignore[operator]
        return instant <= self.value  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed rule of the supported subset."""

    text: str
    freq: int
    interval: int = 1
    count: int | None = None
    until: Until | None = None
    byday: tuple[tuple[int, int | None], ...] = ()
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int = 0

    def expand(self, dtstart: datetime, horizon: datetime) -> rrule:
        """Return dateutil's expansion from `dtstart` (naive wall time), cut at `horizon`.

        COUNT and UNTIL are left out: the series counts its occurrences itself (it restarts
        from the current one) and UNTIL may be an instant, checked after resolving.
        """
        byweekday = [weekdays[day] if n is None else weekdays[day](n) for day, n in self.byday]
        return rrule(
            self.freq,
            dtstart=dtstart,
            interval=self.interval,
            wkst=self.wkst,
            until=horizon,
            byweekday=byweekday or None,
            bymonthday=self.bymonthday or None,
            bymonth=self.bymonth or None,
            bysetpos=self.bysetpos or None,
        )

    def horizon(self, start: datetime) -> datetime:
        """Return the wall time a search from `start` stops at (SEARCH_PERIODS periods on)."""
        step = relativedelta(**{_PERIOD_UNIT[self.freq]: SEARCH_PERIODS * self.interval})
        try:
            return start + step
        except (OverflowError, ValueError):
            return datetime.max.replace(microsecond=0)


def parse_rule(text: str) -> Rule:
    """Parse RRULE text of the supported subset, or raise RecurrenceError saying why not.

    Names and values are case-insensitive (RFC 5545); an `RRULE:` prefix is accepted.
    """
    if not isinstance(text, str) or not text:
        raise RecurrenceError("must be a non-empty RRULE such as FREQ=WEEKLY;BYDAY=MO")
    if len(text) > MAX_RULE_LENGTH:
        raise RecurrenceError(f"must be at most {MAX_RULE_LENGTH} characters")
    # ASCII first: str.upper() maps some non-ASCII letters onto ASCII ones (dotless i -> "I").
    if not text.isascii():
        raise RecurrenceError("must be ASCII RRULE text")
    body = text.upper()
    if body.startswith("RRULE:"):
        body = body[len("RRULE:") :]
    parts: dict[str, str] = {}
    for part in body.split(";"):
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise RecurrenceError("every rule part must be NAME=VALUE, separated by ';'")
        if name in parts:
            raise RecurrenceError(f"{name} is given more than once")
        if name not in SUPPORTED_PARTS:
            if name in _RFC_ONLY_PARTS:
                raise RecurrenceError(f"{name} is not supported")
            raise RecurrenceError(
                "unknown rule part; supported: " + ", ".join(SUPPORTED_PARTS)
                if _NAME.fullmatch(name)
                else "every rule part must be NAME=VALUE, separated by ';'"
            )
        parts[name] = value
    return _build(text, parts)


def _build(text: str, parts: dict[str, str]) -> Rule:
    """Check each part's value and their combination; return the Rule."""
    if "FREQ" not in parts:
        raise RecurrenceError("FREQ is required")
    freq_name = parts["FREQ"]
    if freq_name not in FREQUENCIES:
        detail = (
            " (sub-daily rules are not supported)" if freq_name in _RFC_ONLY_FREQUENCIES else ""
        )
        raise RecurrenceError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY" + detail)
    freq = FREQUENCIES[freq_name]
    interval = (
        _number(parts, "INTERVAL", 1, MAX_INTERVAL, signed=False)[0] if "INTERVAL" in parts else 1
    )
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("COUNT and UNTIL cannot both be given (RFC 5545)")
    count = _count(parts["COUNT"]) if "COUNT" in parts else None
    until = _until(parts["UNTIL"]) if "UNTIL" in parts else None
    byday = _byday(parts["BYDAY"], freq) if "BYDAY" in parts else ()
    bymonthday = _number(parts, "BYMONTHDAY", 1, 31, signed=True) if "BYMONTHDAY" in parts else ()
    if bymonthday and freq == WEEKLY:
        raise RecurrenceError("BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545)")
    bymonth = _number(parts, "BYMONTH", 1, 12, signed=False) if "BYMONTH" in parts else ()
    bysetpos = _number(parts, "BYSETPOS", 1, 366, signed=True) if "BYSETPOS" in parts else ()
    if bysetpos and not (byday or bymonthday or bymonth):
        raise RecurrenceError("BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH beside it (RFC 5545)")
    wkst = 0
    if "WKST" in parts:
        if parts["WKST"] not in DAY_NAMES:
            raise RecurrenceError("WKST must be one of " + ", ".join(DAY_NAMES))
        wkst = DAY_NAMES.index(parts["WKST"])
    return Rule(
        text=text,
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        byday=byday,
        bymonthday=bymonthday,
        bymonth=bymonth,
        bysetpos=bysetpos,
        wkst=wkst,
    )


def _number(
    parts: dict[str, str], name: str, low: int, high: int, *, signed: bool
) -> tuple[int, ...]:
    """Parse a comma-separated list of integers within ±[low, high] (or [low, high])."""
    values: list[int] = []
    for item in parts[name].split(","):
        match = _NUMBER.fullmatch(item)
        if match is None or (match.group(1) and not signed):
            raise RecurrenceError(f"{name} takes {'integers' if signed else 'positive integers'}")
        magnitude = int(match.group(2))
        if not low <= magnitude <= high:
            span = f"-{high} to -{low} or {low} to {high}" if signed else f"{low} to {high}"
            raise RecurrenceError(f"{name} values must be {span}")
        values.append(-magnitude if match.group(1) == "-" else magnitude)
    return tuple(values)


def _count(value: str) -> int:
    """Parse COUNT: a positive integer that fits the stored occurrence index."""
    if not value.isdigit() or len(value) > 10 or not 1 <= int(value) <= MAX_COUNT:
        raise RecurrenceError(f"COUNT must be an integer from 1 to {MAX_COUNT}")
    return int(value)


def _until(value: str) -> Until:
    """Parse UNTIL: YYYYMMDD, YYYYMMDDTHHMMSS (local) or YYYYMMDDTHHMMSSZ (UTC)."""
    match = _UNTIL.fullmatch(value)
    message = "UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, Z for UTC)"
    if match is None:
        raise RecurrenceError(message)
    year, month, day, hour, minute, second, utc = match.groups()
    try:
        if hour is None:
            return Until("date", date(int(year), int(month), int(day)))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise RecurrenceError(message) from None
    if utc:
        return Until("utc", moment.replace(tzinfo=UTC))
    return Until("local", moment)


def _byday(value: str, freq: int) -> tuple[tuple[int, int | None], ...]:
    """Parse BYDAY: weekdays, with ordinals (±1-5 monthly, ±1-53 yearly) for MONTHLY/YEARLY."""
    days: list[tuple[int, int | None]] = []
    for item in value.split(","):
        match = _DAY.fullmatch(item)
        if match is None:
            raise RecurrenceError("BYDAY takes weekdays (MO...SU), e.g. MO,WE or -1FR")
        sign, digits, name = match.groups()
        ordinal: int | None = None
        if digits is not None:
            if freq not in (MONTHLY, YEARLY):
                raise RecurrenceError("BYDAY ordinals (such as -1FR) need FREQ=MONTHLY or YEARLY")
            high = 5 if freq == MONTHLY else 53
            if not 1 <= int(digits) <= high:
                raise RecurrenceError(f"BYDAY ordinals must be -{high} to -1 or 1 to {high}")
            ordinal = -int(digits) if sign == "-" else int(digits)
        elif sign:
            raise RecurrenceError("BYDAY takes weekdays (MO...SU), e.g. MO,WE or -1FR")
        days.append((DAY_NAMES.index(name), ordinal))
    return tuple(days)


def resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a naive local wall time in `zone`.

    PEP 495 with fold=0 reads a wall time in a gap with the offset before the transition,
    which lands it the gap's length later (02:30 -> 03:30), and an ambiguous wall time as its
    first instant: exactly the contract's rule, with no arithmetic of our own.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_time(due_at: datetime, zone: ZoneInfo) -> datetime:
    """Return the naive local wall time (whole seconds) of an instant in `zone`."""
    return due_at.astimezone(zone).replace(tzinfo=None, microsecond=0)


def midnight(day: date) -> datetime:
    """Return the naive wall time an all-day series runs on for `day`."""
    return datetime.combine(day, time())


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a series: its wall time (the anchor), index (see above) and due."""

    wall: datetime
    index: int
    due_at: datetime | None
    due_date: date | None


@dataclass(frozen=True, slots=True)
class Series:
    """A task's recurrence: the rule, its basis, the zone, and whether it runs on dates."""

    rule: Rule
    basis: Basis
    zone: ZoneInfo
    all_day: bool = False

    def occurrence(self, wall: datetime, index: int) -> Occurrence:
        """Return the occurrence at a wall time, resolved to its due."""
        if self.all_day:
            return Occurrence(wall=wall, index=index, due_at=None, due_date=wall.date())
        return Occurrence(wall=wall, index=index, due_at=resolve(wall, self.zone), due_date=None)

    def next_after(self, current: Occurrence, completed_at: datetime) -> Occurrence | None:
        """Return the occurrence that follows completing `current` at `completed_at`, or None.

        Basis "due": the first occurrence after the current one that is not yet past (a
        timed one lies after the completion moment, an all-day one on the completion's local
        date or later), skipped ones counting against COUNT. Basis "completion": the series
        restarts on the completion's local date at its wall time, and the next occurrence is
        its first one on a later date (a daily rule completed at 00:05 is next due the
        following day at its time, wherever UTC's date is). None: COUNT or UNTIL is used up,
        or the rule has nothing within SEARCH_PERIODS periods.
        """
        done = completed_at.astimezone(self.zone)
        done_day = done.date()
        if self.basis == "due":
            start, after = current.wall, current.wall
        else:
            start = datetime.combine(done_day, current.wall.time())
            after = datetime.combine(done_day, time.max)
        horizon = self.rule.horizon(max(start, done.replace(tzinfo=None)))
        years = max(0, (MAXYEAR - horizon.year) // GREGORIAN_CYCLE_YEARS) * GREGORIAN_CYCLE_YEARS
        shift = relativedelta(years=years)
        expansion = self.rule.expand(start + shift, horizon + shift)
        index = current.index
        inclusive = False
        if self.basis == "due":
            # Zone offsets stay within a day, so what lies two days before the completion's
            # wall time is past in any zone: a long-missed series is skipped in one dateutil
            # pass, counted only when COUNT needs it. UNTIL is checked on what follows: an
            # occurrence past it means every later one is too.
            surely_past = done.replace(tzinfo=None) - timedelta(days=2)
            if surely_past > after:
                if self.rule.count is not None:
                    index += len(expansion.between(after + shift, surely_past + shift))
                after, inclusive = surely_past, True
        for shifted in expansion.xafter(after + shift, inc=inclusive):
            wall = shifted.replace(year=shifted.year - years)
            index += 1
            if self.rule.count is not None and index >= self.rule.count:
                return None
            try:
                instant = resolve(wall, self.zone)
            except OverflowError:
                return None
            if self.rule.until is not None and not self.rule.until.admits(wall, instant):
                return None
            if self.basis == "due" and (
                wall.date() < done_day if self.all_day else instant <= completed_at
            ):
                continue
            return self.occurrence(wall, index)
        return None
