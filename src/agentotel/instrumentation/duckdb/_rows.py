"""How many rows a DuckDB fetch returned, for ``db.response.returned_rows``.

Whole-result fetches (``fetchall``, ``df``, ``arrow``, ``pl``, ``fetchnumpy`` …)
give the count; a partial one (``fetchone``, ``fetchmany``, ``fetch_df_chunk``)
gives it only when it shows the result ended within it; readers
(``fetch_record_batch``, ``to_arrow_reader``) hand the rows over later, so
their count is not known. The count is read from the result's length, never by
iterating it.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["ALL", "PART", "READER", "count_rows", "used_up"]

#: Connection and module methods that fetch the whole result of the last statement.
ALL: Final = frozenset(
    {
        "fetchall",
        "df",
        "fetchdf",
        "fetch_df",
        "fetchnumpy",
        "arrow",
        "fetch_arrow_table",
        "to_arrow_table",
        "pl",
        "torch",
    }
    | {"tf"}
)
#: Methods that fetch part of it.
PART: Final = frozenset({"fetchone", "fetchmany", "fetch_df_chunk"})
#: Methods that hand back a reader over it.
READER: Final = frozenset({"fetch_record_batch", "to_arrow_reader"})


def count_rows(method: str, result: Any) -> int | None:
    """Rows in ``result`` of ``method`` (0 or 1 for ``fetchone``), or None when it cannot be told cheaply."""
    if method == "fetchone":
        return 0 if result is None else 1
    try:
        if isinstance(result, dict):  # fetchnumpy, torch, tf: column name -> array
            columns: dict[str, Any] = result  # pyright: ignore[reportUnknownVariableType]
            return len(next(iter(columns.values()))) if columns else 0
        return len(result)
    except Exception:
        return None


def used_up(method: str, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a partial fetch shows the end of the result (nothing more to fetch)."""
    rows = count_rows(method, result)
    if rows is None:
        return False
    if method == "fetchmany":
        size = args[0] if args else kwargs.get("size", 1)
        return rows < size if isinstance(size, int) and size > 0 else rows == 0
    return rows == 0
