"""Table filters: ``cells`` (a digest table row as ``(label, text)`` pairs, one per
column) and ``filled`` (the ``(label, value)`` rows worth showing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import tzinfo

from services.notifier.templating.dates import cn_date, cn_datetime
from services.notifier.templating.labels import percent_label, period_label

Filter = Callable[[object], str]


def _formatters(tz: tzinfo, by_code: Mapping[str, Filter]) -> dict[str, Filter]:
    """Column formats by name; ``""`` shows the value as it is. A label filter
    ``x_label`` is the format ``x`` (``industry``, ``region``, ``department``, …)."""
    return {
        "": lambda v: "" if v is None else str(v),
        "date": lambda v: cn_date(v, tz),
        "datetime": lambda v: cn_datetime(v, tz),
        **{name.removesuffix("_label"): label for name, label in by_code.items()},
        "period": period_label,
        "percent": percent_label,
        "days": lambda v: "" if v is None else f"{v}天",
    }


def make_cells(
    tz: tzinfo, by_code: Mapping[str, Filter]
) -> Callable[[object, object], list[tuple[str, str]]]:
    """The ``cells`` filter, showing dates in ``tz`` and codes with ``by_code``'s labels."""
    formats = _formatters(tz, by_code)

    def cells(item: object, columns: object) -> list[tuple[str, str]]:
        """``(label, text)`` for each column ``[label, key, format]`` of a table row.

        ``format`` may be left out; ``key`` may list fallbacks: ``"subject_name|subject_id"``."""
        if not isinstance(item, Mapping) or not isinstance(columns, Sequence):
            raise TypeError("cells: expects a mapping row and a list of columns")
        found = []
        for column in columns:
            label, key, how = [*column, ""][:3]
            if how not in formats:
                raise ValueError(f"unknown column format {how!r}; known: {', '.join(formats)}")
            value = next(
                (item[k] for k in str(key).split("|") if item.get(k) not in (None, "")), None
            )
            found.append((str(label), formats[how](value) or "—"))
        return found

    return cells


def filled(rows: Iterable[object]) -> list[object]:
    """The ``("名称", 内容)`` rows whose 内容 is not empty, in order (what
    ``selectattr("1") | list`` keeps, in one step). A row without a 内容 is an error."""
    kept = []
    for row in rows:
        try:
            value = row[1]  # type: ignore[index]
        except (TypeError, LookupError):
            raise ValueError(f'a table row is written ("名称", 内容), not {row!r}') from None
        if value:
            kept.append(row)
    return kept
