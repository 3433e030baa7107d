"""What one poll did, source by source (`SourceOutcome`) and in sum (`PollReport`): what the service logs,
`govdigest poll` prints and the alerts come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.sources.records import SourceAlert


class PollStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    source_id: int
    name: str
    status: PollStatus
    items: int = 0  # items the feed or page listed
    known: int = 0  # items this source had listed before (skipped without parsing)
    new: int = 0  # articles stored
    duplicates: int = 0  # items the archive already had (from another source, or repeated in the feed)
    pages_fetched: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    final_url: str | None = None


@dataclass(frozen=True, slots=True)
class PollReport:
    outcomes: tuple[SourceOutcome, ...]
    alerts: tuple[SourceAlert, ...]
    elapsed_seconds: float
    new_article_ids: tuple[int, ...] = field(default=())

    def _sum(self, name: str) -> int:
        return sum(int(getattr(outcome, name)) for outcome in self.outcomes)

    @property
    def polled(self) -> int:
        return len(self.outcomes)

    @property
    def new(self) -> int:
        return self._sum("new")

    @property
    def duplicates(self) -> int:
        return self._sum("duplicates")

    @property
    def items(self) -> int:
        return self._sum("items")

    @property
    def errors(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is PollStatus.ERROR)

    @property
    def not_modified(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is PollStatus.NOT_MODIFIED)
