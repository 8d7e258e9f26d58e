"""Dates as the NetSuite account sees them: stored in UTC, shown in the account's time zone and date format.

Storage: every date and date-time column holds a UTC instant as ``YYYY-MM-DDTHH:MM:SSZ`` (fixed width, so
SQL string comparison is time order). A *date* field (``tranDate``) is the instant of midnight in the
account's time zone, which is how NetSuite keeps dates, so ``trandate >= TO_DATE('2024-01-15','YYYY-MM-DD')``
compares like-for-like. The REST record API shows date-times in UTC (``2017-07-21T17:32:28Z``) and dates as
``2017-07-21``; SuiteQL shows both in the account's display format (default ``M/D/YYYY``, date only) unless
projected with ``TO_CHAR``, whose Oracle format model is rendered in the account's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STORAGE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
STORAGE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# Oracle datetime format elements we understand, longest first so "HH24" wins over "HH".
_ELEMENTS = ("YYYY", "MONTH", "HH24", "HH12", "MON", "YY", "MM", "DD", "HH", "MI", "SS", "AM", "PM", "DY", "D")
_TOKEN = re.compile("|".join([r'"[^"]*"', *_ELEMENTS, r"[^A-Z\"]+", r"."]), re.IGNORECASE)
_PARSE_GROUPS = {
    "YYYY": r"(?P<year>\d{4})",
    "YY": r"(?P<yy>\d{2})",
    "MM": r"(?P<month>\d{1,2})",
    "MON": r"(?P<mon>[A-Za-z]{3})",
    "MONTH": r"(?P<monthname>[A-Za-z]+)",
    "DD": r"(?P<day>\d{1,2})",
    "HH24": r"(?P<hour>\d{1,2})",
    "HH": r"(?P<hour12>\d{1,2})",
    "HH12": r"(?P<hour12>\d{1,2})",
    "MI": r"(?P<minute>\d{1,2})",
    "SS": r"(?P<second>\d{1,2})",
    "AM": r"(?P<meridian>[AaPp]\.?[Mm]\.?)",
    "PM": r"(?P<meridian>[AaPp]\.?[Mm]\.?)",
}
_MONTHS = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
]


class DateFormatError(ValueError):
    """A value does not match its Oracle format model (NetSuite: "Unparseable date")."""


def _tokens(model: str) -> list[str]:
    return _TOKEN.findall(model)


@dataclass(frozen=True)
class AccountTime:
    """The account's time zone and date display preference."""

    time_zone: str = "America/Los_Angeles"
    date_format: str = "M/D/YYYY"

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone."""
        return ZoneInfo(self.time_zone)

    # -- storage ------------------------------------------------------------------------------------
    @staticmethod
    def store_instant(moment: datetime) -> str:
        """A timezone-aware instant in storage form."""
        return moment.astimezone(UTC).strftime(STORAGE_FORMAT)

    @staticmethod
    def instant(stored: str) -> datetime:
        """The UTC instant a stored value holds."""
        return datetime.strptime(stored, STORAGE_FORMAT).replace(tzinfo=UTC)

    def store_date(self, day: date) -> str:
        """A calendar date in storage form: midnight of that day in the account's time zone."""
        return self.store_instant(datetime.combine(day, time(), tzinfo=self.zone))

    def local_date(self, stored: str) -> date:
        """The account-local calendar date of a stored instant."""
        return self.instant(stored).astimezone(self.zone).date()

    def _wall_clock(self, stored: str) -> datetime:
        return self.instant(stored).astimezone(self.zone).replace(tzinfo=None)

    def _from_wall_clock(self, local: datetime) -> str:
        return self.store_instant(local.replace(tzinfo=self.zone))

    # -- Oracle DATE arithmetic: days on the account's wall clock -----------------------------------
    def add_days(self, stored: str, days: float) -> str:
        """``date + n``: ``n`` days (fractions allowed: ``1/24`` is an hour) later on the account's wall clock.

        Like Oracle ``DATE`` arithmetic, a day is a calendar day: ``SYSDATE - 1`` on the day after clocks
        spring forward is the same local time yesterday, 23 hours ago. Dates keep whole seconds."""
        return self._from_wall_clock(self._wall_clock(stored) + timedelta(seconds=round(days * 86400)))

    def days_between(self, later: str, earlier: str) -> float:
        """``date - date``: the days between two wall-clock times (a fraction for part of a day)."""
        return (self._wall_clock(later) - self._wall_clock(earlier)).total_seconds() / 86400

    def trunc(self, stored: str, unit: str = "DD") -> str:
        """Oracle ``TRUNC(date, unit)`` on the account's wall clock (default: local midnight)."""
        local = self._wall_clock(stored)
        unit = unit.upper()
        if unit in ("DD", "DDD", "J"):
            local = datetime.combine(local.date(), time())
        elif unit in ("MM", "MON", "MONTH", "RM"):
            local = datetime(local.year, local.month, 1)
        elif unit in ("Q",):
            local = datetime(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
        elif unit in ("YYYY", "YYY", "YY", "Y", "YEAR", "SYYYY", "SYEAR"):
            local = datetime(local.year, 1, 1)
        elif unit == "IW":
            local = datetime.combine(local.date() - timedelta(days=local.weekday()), time())
        elif unit in ("HH", "HH12", "HH24"):
            local = local.replace(minute=0, second=0)
        elif unit == "MI":
            local = local.replace(second=0)
        else:
            raise DateFormatError(f"Invalid format model for TRUNC: {unit}")
        return self._from_wall_clock(local)

    # -- REST record API ----------------------------------------------------------------------------
    def parse_rest_date(self, text: str) -> str:
        """``2024-01-15`` (or an ISO date-time, whose local date is taken) to storage form."""
        try:
            if len(text) == 10:
                return self.store_date(date.fromisoformat(text))
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DateFormatError(f"Unparseable date: {text}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        return self.store_date(parsed.astimezone(self.zone).date())

    def rest_date(self, stored: str) -> str:
        """A stored instant as the REST API's date: the account-local ``YYYY-MM-DD``."""
        return self.local_date(stored).isoformat()

    # -- SuiteQL ------------------------------------------------------------------------------------
    def display(self, stored: str) -> str:
        """How SuiteQL shows a date or date-time column: the local date in the account's display format."""
        return self.to_char(stored, self.date_format)

    def to_char(self, stored: str, model: str) -> str:
        """Oracle ``TO_CHAR(datetime, model)`` in the account's time zone."""
        moment = self.instant(stored).astimezone(self.zone)
        out = []
        for element in _tokens(model):
            upper = element.upper()
            if element.startswith('"'):
                out.append(element[1:-1])
            elif upper in ("YYYY", "YY"):
                out.append(f"{moment.year:04d}"[-len(upper) :])
            elif upper == "MM":
                out.append(f"{moment.month:02d}")
            elif upper == "M" and element == "M":  # NetSuite's display preference, not Oracle: month unpadded
                out.append(str(moment.month))
            elif upper == "MON":
                out.append(
                    _MONTHS[moment.month - 1][:3].title() if element[1:].islower() else _MONTHS[moment.month - 1][:3]
                )
            elif upper == "MONTH":
                out.append(_MONTHS[moment.month - 1].title() if element[1:].islower() else _MONTHS[moment.month - 1])
            elif upper == "DD":
                out.append(f"{moment.day:02d}")
            elif upper == "D":
                out.append(str(moment.day))  # "M/D/YYYY" preference: unpadded day
            elif upper == "HH24":
                out.append(f"{moment.hour:02d}")
            elif upper in ("HH", "HH12"):
                out.append(f"{(moment.hour % 12) or 12:02d}")
            elif upper == "MI":
                out.append(f"{moment.minute:02d}")
            elif upper == "SS":
                out.append(f"{moment.second:02d}")
            elif upper in ("AM", "PM"):
                out.append("AM" if moment.hour < 12 else "PM")
            elif upper == "DY":
                out.append(moment.strftime("%a").upper())
            else:
                out.append(element)
        return "".join(out)

    def to_date(self, text: str, model: str | None = None) -> str:
        """Oracle ``TO_DATE(text, model)``: the text is account-local time; returns storage form."""
        model = model or self.date_format
        pattern = []
        for element in _tokens(model):
            upper = element.upper()
            if element.startswith('"'):
                pattern.append(re.escape(element[1:-1]))
            elif upper in _PARSE_GROUPS:
                pattern.append(_PARSE_GROUPS[upper])
            elif upper == "D":
                pattern.append(r"(?P<day>\d{1,2})")
            elif element == "M":
                pattern.append(r"(?P<month>\d{1,2})")
            else:
                pattern.append(re.escape(element))
        match = re.fullmatch("".join(pattern), text.strip(), re.IGNORECASE)
        if match is None:
            raise DateFormatError(f"Unparseable date: {text}")
        parts = match.groupdict()
        year = int(parts["year"]) if parts.get("year") else 2000 + int(parts.get("yy") or 0)
        month = int(parts["month"]) if parts.get("month") else 1
        if parts.get("mon") or parts.get("monthname"):
            name = (parts.get("mon") or parts.get("monthname") or "").upper()
            month = next(i for i, full in enumerate(_MONTHS, 1) if full.startswith(name[:3]))
        hour = int(parts.get("hour") or 0)
        if parts.get("hour12"):
            hour = int(parts["hour12"]) % 12 + (12 if (parts.get("meridian") or "A").upper().startswith("P") else 0)
        try:
            local = datetime(
                year,
                month,
                int(parts.get("day") or 1),
                hour,
                int(parts.get("minute") or 0),
                int(parts.get("second") or 0),
                tzinfo=self.zone,
            )
        except ValueError as exc:
            raise DateFormatError(f"Unparseable date: {text}") from exc
        return self.store_instant(local)
