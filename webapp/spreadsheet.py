"""CSV downloads that are safe to open in a spreadsheet."""
from __future__ import annotations

import csv
import io

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """One cell as text, shown as text by spreadsheets (a formula gets a leading quote)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows) -> str:
    """Rows of already safe cells as CSV text (the ``csv`` module's quoting, CRLF lines)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
