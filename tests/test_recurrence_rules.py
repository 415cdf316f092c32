"""Recurrence rules with no I/O: the RRULE subset and the next occurrence on local wall time.

The zones are the two the issue names, with their 2026 changes: Europe/Berlin springs forward
on 29 March (02:00 -> 03:00) and falls back on 25 October (03:00 -> 02:00); America/New_York
springs forward on 8 March and falls back on 1 November, both at 02:00.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.recurrence import (
    Occurrence,
    RecurrenceError,
    Series,
    midnight,
    parse_rule,
    resolve,
    wall_time,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    """Return a UTC instant."""
    return datetime(*args, tzinfo=UTC)


def local(zone: ZoneInfo, *args: int) -> datetime:
    """Return the instant of a wall time that exists once in `zone`."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def series(rule: str, zone: ZoneInfo = BERLIN, basis: str = "due", all_day: bool = False) -> Series:
    """Return a series of `rule`."""
    return Series(parse_rule(rule), basis, zone, all_day)  # type: ignore[arg-type]


def run(s: Series, first: Occurrence, n: int) -> list[Occurrence]:
    """Complete `first` and its successors just after each is due; return what follows."""
    out: list[Occurrence] = []
    current: Occurrence | None = first
    for _ in range(n):
        assert current is not None
        moment = current.due_at or resolve(midnight(current.due_date), s.zone)  # type: ignore[arg-type]
        current = s.next_after(current, moment + timedelta(seconds=1))
        if current is None:
            break
        out.append(current)
    return out


# -- the subset ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=1000",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;WKST=SU",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=10",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=+2MO,3TU",
        "FREQ=MONTHLY;BYMONTHDAY=-1,15",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYDAY=20MO",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        "FREQ=DAILY;UNTIL=20261231",
        "FREQ=DAILY;UNTIL=20261231T235959Z",
        "FREQ=DAILY;UNTIL=20261231T090000",
        "RRULE:FREQ=DAILY",
        "freq=weekly;byday=mo",
    ],
)
def test_the_subset_parses(text):
    rule = parse_rule(text)
    assert rule.text == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "non-empty"),
        ("FREQ=HOURLY", "sub-daily"),
        ("FREQ=SECONDLY", "sub-daily"),
        ("FREQ=FORTNIGHTLY", "FREQ must be"),
        ("INTERVAL=2", "FREQ is required"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO is not supported"),
        ("FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY is not supported"),
        ("FREQ=DAILY;X-FOO=1", "NAME=VALUE"),
        ("FREQ=DAILY;RSCALE=GREGORIAN", "unknown rule part"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20261231", "COUNT and UNTIL"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1001", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1.5", "INTERVAL"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=99999999999", "COUNT"),
        ("FREQ=WEEKLY;BYDAY=1MO", "ordinals"),
        ("FREQ=DAILY;BYDAY=-1FR", "ordinals"),
        ("FREQ=MONTHLY;BYDAY=6MO", "ordinals"),
        ("FREQ=MONTHLY;BYDAY=0MO", "ordinals"),
        ("FREQ=YEARLY;BYDAY=54MO", "ordinals"),
        ("FREQ=MONTHLY;BYDAY=+MO", "weekdays"),
        ("FREQ=MONTHLY;BYDAY=MON", "weekdays"),
        ("FREQ=MONTHLY;BYDAY=", "NAME=VALUE"),
        ("FREQ=MONTHLY;BYDAY=MO,", "weekdays"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "WEEKLY"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=-32", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=-1", "BYMONTH"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=367", "BYSETPOS"),
        ("FREQ=WEEKLY;WKST=XX", "WKST"),
        ("FREQ=DAILY;UNTIL=20260230", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20261231T246000Z", "UNTIL"),
        ("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL"),
        ("FREQ=DAILY;FREQ=WEEKLY", "more than once"),
        ("FREQ=DAILY;", "NAME=VALUE"),
        ("FREQ=DAILY; INTERVAL=2", "NAME=VALUE"),
        ("FREQ=DA\u0131LY", "ASCII"),
        ("FREQ=DAILY;INTERVAL=" + "1" * 500, "at most"),
    ],
)
def test_anything_else_is_refused_saying_why(text, says):
    with pytest.raises(RecurrenceError, match=says):
        parse_rule(text)


def test_error_messages_do_not_echo_unknown_text():
    with pytest.raises(RecurrenceError) as caught:
        parse_rule("FREQ=DAILY;SECRETSAUCE=1")
    assert "SECRETSAUCE" not in str(caught.value)


# -- months, weekdays, counts ---------------------------------------------------------------


@pytest.mark.parametrize("rule", ["FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=MONTHLY"])
def test_the_31st_skips_months_without_one_and_never_drifts(rule):
    s = series(rule)
    first = s.occurrence(datetime(2026, 1, 31, 9), 0)
    walls = [o.wall for o in run(s, first, 6)]
    assert walls == [datetime(2026, month, 31, 9) for month in (3, 5, 7, 8, 10, 12)]


def test_the_last_day_of_every_month_with_a_negative_monthday():
    s = series("FREQ=MONTHLY;BYMONTHDAY=-1")
    first = s.occurrence(datetime(2028, 1, 31, 9), 0)
    days = [o.wall.date() for o in run(s, first, 3)]
    assert days == [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]


def test_29_february_waits_for_the_next_leap_year():
    s = series("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
    first = s.occurrence(datetime(2096, 2, 29, 9), 0)
    assert [o.wall.date() for o in run(s, first, 2)] == [date(2104, 2, 29), date(2108, 2, 29)]


def test_last_friday_of_the_month():
    s = series("FREQ=MONTHLY;BYDAY=-1FR")
    first = s.occurrence(datetime(2026, 1, 30, 17), 0)
    days = [o.wall.date() for o in run(s, first, 5)]
    assert days == [
        date(2026, 2, 27),
        date(2026, 3, 27),
        date(2026, 4, 24),
        date(2026, 5, 29),
        date(2026, 6, 26),
    ]
    assert all(d.weekday() == 4 and (d + timedelta(days=7)).month != d.month for d in days)


def test_every_other_week_keeps_its_phase_as_the_series_restarts_from_each_occurrence():
    s = series("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH")
    first = s.occurrence(datetime(2026, 1, 5, 9), 0)  # a Monday
    days = [o.wall.date() for o in run(s, first, 5)]
    assert days == [
        date(2026, 1, 8),
        date(2026, 1, 19),
        date(2026, 1, 22),
        date(2026, 2, 2),
        date(2026, 2, 5),
    ]


def test_count_runs_out():
    s = series("FREQ=DAILY;COUNT=3")
    first = s.occurrence(datetime(2026, 5, 1, 9), 0)
    following = run(s, first, 5)
    assert [o.index for o in following] == [1, 2]
    assert s.next_after(following[-1], utc(2026, 5, 3, 12)) is None


def test_skipped_occurrences_use_up_count():
    s = series("FREQ=DAILY;COUNT=5")
    first = s.occurrence(datetime(2026, 5, 1, 9), 0)
    nxt = s.next_after(first, local(BERLIN, 2026, 5, 4, 12))
    assert nxt is not None and nxt.wall == datetime(2026, 5, 5, 9) and nxt.index == 4
    assert s.next_after(first, local(BERLIN, 2026, 5, 5, 12)) is None


@pytest.mark.parametrize(
    ("until", "last"),
    [
        ("20260503", date(2026, 5, 3)),  # a date: that whole day
        ("20260503T070000Z", date(2026, 5, 3)),  # 09:00 Berlin is 07:00Z: the bound itself
        ("20260503T065959Z", date(2026, 5, 2)),
        ("20260503T090000", date(2026, 5, 3)),  # local wall time
        ("20260503T085959", date(2026, 5, 2)),
    ],
)
def test_until_ends_the_series(until, last):
    s = series(f"FREQ=DAILY;UNTIL={until}")
    first = s.occurrence(datetime(2026, 5, 1, 9), 0)
    following = run(s, first, 10)
    assert following[-1].wall.date() == last
    assert len(following) == (last - date(2026, 5, 1)).days


def test_a_rule_that_matches_nothing_ends_quickly():
    s = series("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    started = clock.perf_counter()
    assert s.next_after(s.occurrence(datetime(2026, 1, 1, 9), 0), utc(2026, 1, 1, 12)) is None
    assert clock.perf_counter() - started < 2


# -- wall time across DST -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "offsets"),
    [
        # Berlin: 09:00 is 08:00Z in winter and 07:00Z in summer.
        (BERLIN, datetime(2026, 3, 27, 9), {(3, 28): 8, (3, 29): 7, (3, 30): 7}),
        (BERLIN, datetime(2026, 10, 23, 9), {(10, 24): 7, (10, 25): 8, (10, 26): 8}),
        # New York: 09:00 is 14:00Z in winter and 13:00Z in summer.
        (NEW_YORK, datetime(2026, 3, 6, 9), {(3, 7): 14, (3, 8): 13, (3, 9): 13}),
        (NEW_YORK, datetime(2026, 10, 30, 9), {(10, 31): 13, (11, 1): 14, (11, 2): 14}),
    ],
)
def test_daily_0900_stays_0900_across_both_dst_changes(zone, start, offsets):
    s = series("FREQ=DAILY", zone)
    following = run(s, s.occurrence(start, 0), 3)
    for occurrence, ((month, day), hour) in zip(following, offsets.items(), strict=True):
        assert occurrence.due_at == utc(2026, month, day, hour)
        assert occurrence.due_at.astimezone(zone).hour == 9


@pytest.mark.parametrize(
    ("zone", "start", "gap_day", "shifted", "after"),
    [
        # 02:30 does not exist on 29 March in Berlin: 03:30 CEST (01:30Z), then 02:30 again.
        (
            BERLIN,
            datetime(2026, 3, 28, 2, 30),
            29,
            utc(2026, 3, 29, 1, 30),
            utc(2026, 3, 30, 0, 30),
        ),
        # ... nor on 8 March in New York: 03:30 EDT (07:30Z), then 02:30 EDT (06:30Z).
        (NEW_YORK, datetime(2026, 3, 7, 2, 30), 8, utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)),
    ],
)
def test_a_local_time_that_does_not_exist_moves_forward_by_the_gap_for_that_day_only(
    zone, start, gap_day, shifted, after
):
    s = series("FREQ=DAILY", zone)
    gap, following = run(s, s.occurrence(start, 0), 2)
    assert gap.wall == datetime(2026, 3, gap_day, 2, 30)  # the series keeps its wall time
    assert gap.due_at == shifted
    assert gap.due_at.astimezone(zone).strftime("%H:%M") == "03:30"
    assert following.due_at == after
    assert following.due_at.astimezone(zone).strftime("%H:%M") == "02:30"


@pytest.mark.parametrize(
    ("zone", "start", "first_instant", "after"),
    [
        # 02:30 happens twice on 25 October in Berlin: first at 00:30Z (CEST), then 01:30Z.
        (BERLIN, datetime(2026, 10, 24, 2, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),
        # 01:30 happens twice on 1 November in New York: first at 05:30Z (EDT), then 06:30Z.
        (NEW_YORK, datetime(2026, 10, 31, 1, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
    ],
)
def test_an_ambiguous_local_time_takes_its_first_instant(zone, start, first_instant, after):
    s = series("FREQ=DAILY", zone)
    twice, following = run(s, s.occurrence(start, 0), 2)
    assert twice.due_at == first_instant
    assert following.due_at == after


def test_weekly_in_the_gap_hour_shifts_only_that_week():
    s = series("FREQ=WEEKLY;BYDAY=SU", BERLIN)
    walls = run(s, s.occurrence(datetime(2026, 3, 22, 2, 15), 0), 2)
    assert [o.due_at.astimezone(BERLIN).strftime("%d %H:%M") for o in walls] == [
        "29 03:15",
        "05 02:15",
    ]


# -- basis and missed occurrences -----------------------------------------------------------


@pytest.mark.parametrize("rule", ["FREQ=DAILY", "FREQ=DAILY;COUNT=100"])
def test_basis_due_skips_occurrences_already_past(rule):
    s = series(rule)
    first = s.occurrence(datetime(2026, 5, 1, 9), 0)
    after_nine = s.next_after(first, local(BERLIN, 2026, 5, 10, 12))
    before_nine = s.next_after(first, local(BERLIN, 2026, 5, 10, 8))
    assert after_nine.due_at == local(BERLIN, 2026, 5, 11, 9)
    assert before_nine.due_at == local(BERLIN, 2026, 5, 10, 9)
    if "COUNT" in rule:  # the index is exact where COUNT needs it
        assert (after_nine.index, before_nine.index) == (10, 9)


def test_a_series_missed_for_centuries_is_skipped_in_bounded_time():
    s = series("FREQ=DAILY;COUNT=1000000")
    started = clock.perf_counter()
    nxt = s.next_after(s.occurrence(datetime(1900, 1, 1, 9), 0), local(BERLIN, 2026, 5, 10, 12))
    assert clock.perf_counter() - started < 5
    assert nxt.wall == datetime(2026, 5, 11, 9)
    assert nxt.index == (date(2026, 5, 11) - date(1900, 1, 1)).days


def test_basis_due_completed_early_moves_to_the_next_after_the_due():
    s = series("FREQ=WEEKLY;BYDAY=MO")
    first = s.occurrence(datetime(2026, 6, 15, 9), 0)
    assert s.next_after(first, local(BERLIN, 2026, 6, 1, 9)).wall == datetime(2026, 6, 22, 9)


def test_basis_due_all_day_keeps_todays_occurrence():
    s = series("FREQ=DAILY", all_day=True)
    first = s.occurrence(midnight(date(2026, 5, 1)), 0)
    nxt = s.next_after(first, local(BERLIN, 2026, 5, 10, 23, 59))
    assert nxt.due_date == date(2026, 5, 10) and nxt.due_at is None


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_basis_completion_just_after_local_midnight_counts_from_the_local_day(zone):
    # 00:05 on 10 March local is still 9 March in UTC in New York, and already 10 March in UTC
    # only from 01:00 in Berlin; the next daily occurrence is 11 March at the series' time.
    completed = local(zone, 2026, 3, 10, 0, 5)
    timed = series("FREQ=DAILY", zone, basis="completion")
    nxt = timed.next_after(timed.occurrence(datetime(2026, 3, 1, 9), 0), completed)
    assert nxt.due_at.astimezone(zone) == datetime(2026, 3, 11, 9, tzinfo=zone)
    assert nxt.index == 1
    dates = series("FREQ=DAILY", zone, basis="completion", all_day=True)
    nxt = dates.next_after(dates.occurrence(midnight(date(2026, 3, 1)), 0), completed)
    assert nxt.due_date == date(2026, 3, 11)


def test_basis_completion_counts_the_interval_from_the_completion_day():
    s = series("FREQ=DAILY;INTERVAL=3", basis="completion")
    nxt = s.next_after(s.occurrence(datetime(2026, 3, 1, 9), 0), local(BERLIN, 2026, 3, 10, 23))
    assert nxt.wall == datetime(2026, 3, 13, 9)


def test_basis_completion_weekly_without_byday_takes_the_completion_weekday():
    s = series("FREQ=WEEKLY", basis="completion")
    nxt = s.next_after(s.occurrence(datetime(2026, 3, 2, 9), 0), local(BERLIN, 2026, 3, 11, 15))
    assert nxt.wall == datetime(2026, 3, 18, 9)  # Wednesdays now


def test_basis_completion_count_counts_completions():
    s = series("FREQ=DAILY;COUNT=2", basis="completion")
    nxt = s.next_after(s.occurrence(datetime(2026, 3, 1, 9), 0), local(BERLIN, 2026, 3, 20, 12))
    assert nxt.index == 1
    assert s.next_after(nxt, local(BERLIN, 2026, 3, 22, 12)) is None


def test_wall_time_reads_an_instant_in_the_zone():
    assert wall_time(utc(2026, 3, 9, 23, 5, 0), BERLIN) == datetime(2026, 3, 10, 0, 5)


# -- properties ------------------------------------------------------------------------------

ZONES = [BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("America/Santiago")]


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    return resolve(wall, zone).astimezone(zone).replace(tzinfo=None) == wall


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    rule=st.sampled_from(
        ["FREQ=DAILY", "FREQ=DAILY;INTERVAL=3", "FREQ=WEEKLY;BYDAY=SU,MO", "FREQ=MONTHLY;BYDAY=1SU"]
    ),
)
def test_the_wall_time_survives_every_change_and_dues_only_move_forward(zone, start, rule):
    s = series(rule, zone)
    following = run(s, s.occurrence(start, 0), 40)
    assert len(following) == 40
    previous = s.occurrence(start, 0).due_at
    for occurrence in following:
        assert occurrence.wall.time() == start.time()
        assert occurrence.due_at > previous
        previous = occurrence.due_at
        shown = occurrence.due_at.astimezone(zone).replace(tzinfo=None)
        if _exists(occurrence.wall, zone):
            assert shown == occurrence.wall
        else:
            assert shown > occurrence.wall  # moved forward, by the gap only
            assert shown - occurrence.wall <= timedelta(hours=1)


@settings(max_examples=60, deadline=None)
@given(
    day=st.integers(min_value=1, max_value=31),
    start_month=st.integers(min_value=1, max_value=12),
    interval=st.integers(min_value=1, max_value=5),
    basis=st.sampled_from(["due", "completion"]),
)
def test_a_monthday_never_drifts(day, start_month, interval, basis):
    s = series(f"FREQ=MONTHLY;INTERVAL={interval};BYMONTHDAY={day}", basis=basis)
    current = s.occurrence(datetime(2026, start_month, 1, 9), 0)
    for _ in range(12):
        current = s.next_after(current, current.due_at + timedelta(seconds=1))
        assert current is not None and current.wall.day == day


RULE_PARTS = st.lists(
    st.sampled_from(
        [
            "FREQ=DAILY",
            "FREQ=WEEKLY",
            "FREQ=MONTHLY",
            "FREQ=YEARLY",
            "FREQ=HOURLY",
            "INTERVAL=2",
            "INTERVAL=0",
            "COUNT=3",
            "UNTIL=20300101",
            "UNTIL=20300101T000000Z",
            "BYDAY=MO,FR",
            "BYDAY=-1FR",
            "BYDAY=2TU",
            "BYMONTHDAY=31",
            "BYMONTHDAY=-1",
            "BYMONTH=2",
            "BYMONTH=2,8",
            "BYSETPOS=-1",
            "BYSETPOS=2",
            "WKST=SU",
            "BYHOUR=9",
            "",
            "=",
            "FREQ",
        ]
    ),
    max_size=5,
).map(";".join)


@settings(max_examples=200, deadline=None)
@given(text=RULE_PARTS | st.text(max_size=40), zone=st.sampled_from(ZONES))
def test_any_text_parses_or_is_refused_and_a_parsed_rule_moves_forward(text, zone):
    try:
        rule = parse_rule(text)
    except RecurrenceError:
        return
    s = Series(rule, "due", zone)
    current = s.occurrence(datetime(2026, 1, 31, 9), 0)
    moment = current.due_at + timedelta(seconds=1)
    following = s.next_after(current, moment)
    if following is not None:
        assert following.due_at > moment
        assert following.index == 1 or rule.count is None or following.index < rule.count
