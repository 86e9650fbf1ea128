"""One page of a long list (work users, report rows): the page asked for, clamped to the last."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_number(page: int | None, total: int, per_page: int) -> int:
    """The page to show: at least the first, at most the last."""
    pages = max(1, -(-total // per_page))
    return min(max(1, page or 1), pages)
