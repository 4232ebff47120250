"""Conditional writes (an extension of the contract): `If-Match` with the ETag a GET of the dataset gave,
or `If-Unmodified-Since` with its `Last-Modified`. Both come from the dataset's `updated`, which every
PUT changes, so a client that read a definition can refuse to overwrite one it has not seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime


def etag(updated: str) -> str:
    """The strong ETag of a dataset definition: its `updated` timestamp (RFC 3339), quoted."""
    return f'"{updated}"'


def last_modified(updated: str) -> str:
    """`updated` as an HTTP-date (whole seconds, as HTTP-dates have no fractions)."""
    return format_datetime(_parse_rfc3339(updated), usegmt=True)


@dataclass(frozen=True)
class Precondition:
    """The conditional headers of a write; none sent: always met."""

    if_match: str | None = None
    if_unmodified_since: str | None = None

    def failed_header(self, updated: str) -> str | None:
        """The header whose condition the definition last changed at `updated` fails, or None.

        An `If-Unmodified-Since` that is not an HTTP-date is ignored (RFC 9110, 13.1.4); when both are
        sent, `If-Match` decides alone (13.2.2).
        """
        if self.if_match is not None:
            tags = [tag.strip() for tag in self.if_match.split(",")]
            return None if "*" in tags or etag(updated) in tags else "If-Match"
        if self.if_unmodified_since is not None:
            try:
                since = parsedate_to_datetime(self.if_unmodified_since)
            except (TypeError, ValueError):
                return None
            if since.tzinfo is None:
                return None
            changed = _parse_rfc3339(updated).replace(microsecond=0)
            return "If-Unmodified-Since" if changed > since else None
        return None


def _parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


UNCONDITIONAL = Precondition()
