"""Dates in January 2024 (UTC) that the period tests build their ranges from."""

from datetime import UTC, datetime

JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2024, 2, 1, tzinfo=UTC)


def day(number: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, number, hour, tzinfo=UTC)
