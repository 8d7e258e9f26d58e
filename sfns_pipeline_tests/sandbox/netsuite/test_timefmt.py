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
