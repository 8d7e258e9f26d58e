"""Oracle format models in the account's time zone (TO_CHAR / TO_DATE), DST included."""

from datetime import UTC, date, datetime

import pytest

from sfns_pipeline.sandbox.netsuite.timefmt import AccountTime, DateFormatError

PACIFIC = AccountTime("America/Los_Angeles")


@pytest.mark.parametrize(
    ("instant", "model", "shown"),
    [
        (datetime(2024, 1, 15, 20, 5, 9, tzinfo=UTC), "YYYY-MM-DD HH24:MI:SS", "2024-01-15 12:05:09"),
        (datetime(2024, 1, 15, 20, 5, 9, tzinfo=UTC), "YYYY-MM-DD HH:MI:SS AM", "2024-01-15 12:05:09 PM"),
        (datetime(2024, 1, 16, 2, 5, 9, tzinfo=UTC), "YYYY-MM-DD HH:MI", "2024-01-15 06:05"),  # HH is 12-hour
        (datetime(2024, 7, 15, 20, 0, 0, tzinfo=UTC), "YYYY-MM-DD HH24:MI", "2024-07-15 13:00"),  # PDT
        (datetime(2024, 11, 3, 8, 30, 0, tzinfo=UTC), "HH24:MI", "01:30"),  # first 01:30 (PDT) on fall-back day
        (datetime(2024, 11, 3, 9, 30, 0, tzinfo=UTC), "HH24:MI", "01:30"),  # second 01:30 (PST)
        (datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC), 'DD-MON-YYYY "at" HH24', "05-MAR-2024 at 04"),
        (datetime(2024, 3, 5, 12, 0, 0, tzinfo=UTC), "M/D/YYYY", "3/5/2024"),
    ],
)
def test_to_char_renders_account_local_time(instant, model, shown):
    assert PACIFIC.to_char(PACIFIC.store_instant(instant), model) == shown


@pytest.mark.parametrize(
    ("text", "model", "instant"),
    [
        ("2024-01-15 00:00:00", "yyyy-mm-dd hh24:mi:ss", datetime(2024, 1, 15, 8, tzinfo=UTC)),
        ("2024-07-15", "YYYY-MM-DD", datetime(2024, 7, 15, 7, tzinfo=UTC)),
        ("1/15/2024", None, datetime(2024, 1, 15, 8, tzinfo=UTC)),  # the account's date format
        ("2024-01-15 01:30:00 PM", "YYYY-MM-DD HH:MI:SS AM", datetime(2024, 1, 15, 21, 30, tzinfo=UTC)),
    ],
)
def test_to_date_reads_account_local_time(text, model, instant):
    assert PACIFIC.instant(PACIFIC.to_date(text, model)) == instant


@pytest.mark.parametrize(("text", "model"), [("2024-01-15", None), ("15/01/2024", "YYYY-MM-DD"), ("2/30/2024", None)])
def test_unparseable_dates_are_refused(text, model):
    with pytest.raises(DateFormatError, match="Unparseable date"):
        PACIFIC.to_date(text, model)


def test_dates_are_local_midnight_and_round_trip():
    stored = PACIFIC.store_date(date(2024, 3, 10))  # the day clocks spring forward
    assert stored == "2024-03-10T08:00:00Z"
    assert PACIFIC.local_date(stored) == date(2024, 3, 10)
    assert AccountTime("Europe/Berlin").rest_date(AccountTime("Europe/Berlin").parse_rest_date("2024-03-31")) == (
        "2024-03-31"
    )


@pytest.mark.parametrize(
    ("local", "days", "expected"),
    [
        ("2024-11-03 12:00:00", -1, "2024-11-02 12:00:00"),  # 25 hours back: clocks fell back overnight
        ("2024-11-03 12:00:00", -1 / 24, "2024-11-03 11:00:00"),
        ("2024-03-31 23:30:00", 1 / 48, "2024-04-01 00:00:00"),
        ("2024-02-28 08:00:00", 2, "2024-03-01 08:00:00"),
    ],
)
def test_date_arithmetic_counts_days_on_the_wall_clock(local, days, expected):
    model = "YYYY-MM-DD HH24:MI:SS"
    assert PACIFIC.to_char(PACIFIC.add_days(PACIFIC.to_date(local, model), days), model) == expected


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("DD", "2024-11-06 00:00"),
        ("MM", "2024-11-01 00:00"),
        ("YYYY", "2024-01-01 00:00"),
        ("IW", "2024-11-04 00:00"),
        ("Q", "2024-10-01 00:00"),
        ("HH24", "2024-11-06 17:00"),
    ],
)
def test_trunc_truncates_in_account_local_time(unit, expected):
    stored = PACIFIC.store_instant(datetime(2024, 11, 7, 1, 45, 30, tzinfo=UTC))  # 17:45:30 PST on the 6th
    assert PACIFIC.to_char(PACIFIC.trunc(stored, unit), "YYYY-MM-DD HH24:MI") == expected


def test_days_between_is_a_fraction_of_wall_clock_days():
    model = "YYYY-MM-DD HH24:MI:SS"
    later, earlier = PACIFIC.to_date("2024-03-11 06:00:00", model), PACIFIC.to_date("2024-03-10 00:00:00", model)
    assert PACIFIC.days_between(later, earlier) == 1.25
