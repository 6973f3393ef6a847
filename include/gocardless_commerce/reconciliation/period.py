"""The period a reconciliation job covers: one UTC day, numbered YYYYMMDD.

One job per period, so a rerun of a day finds (and replaces) that day's results by its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True, order=True)
class Period:
    day: date

    @classmethod
    def of(cls, value: date | datetime | str) -> Period:
        """The period of a date, a timestamp (its UTC day) or an ISO date string."""
        if isinstance(value, str):
            return cls(date.fromisoformat(value[:10]))
        if isinstance(value, datetime):
            return cls((value.astimezone(UTC) if value.tzinfo else value).date())
        return cls(value)

    @classmethod
    def before(cls, moment: datetime) -> Period:
        """The UTC day before ``moment``: what a run at ``moment`` reconciles."""
        return cls.of(moment).shifted(-1)

    def shifted(self, days: int) -> Period:
        return Period(self.day + timedelta(days=days))

    @property
    def start(self) -> datetime:
        """Midnight UTC, naive (the warehouse stores UTC without a time zone)."""
        return datetime.combine(self.day, time())

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @property
    def job_number(self) -> int:
        return int(self.day.strftime("%Y%m%d"))

    @classmethod
    def from_job_number(cls, job_number: int) -> Period:
        return cls(datetime.strptime(str(job_number), "%Y%m%d").date())

    def __str__(self) -> str:
        return self.day.isoformat()
