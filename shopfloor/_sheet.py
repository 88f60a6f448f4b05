"""A spreadsheet's cells as text, from an Excel workbook (.xlsx) or a CSV file alike.

What an enterprise keeps (a 设备台账, a ledger) is read into rows of text cells, each row with
its number in the sheet, so a message can name the cell as the user sees it (``L17``). Excel's
own values become the text a user typed (``7`` not ``7.0``, a date as ``2021-03-15``), and a
merged cell's value stands in every cell of its range, as it looks on screen.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

#: the encodings a CSV file is tried in, in order, for messages
CSV_ENCODINGS = "UTF-16 (with its byte-order mark), UTF-8 and GB18030 (GBK, GB2312)"


class SheetError(Exception):
    """A file that is not a sheet we read: what is wrong and what to do instead."""


@dataclass(frozen=True, slots=True)
class Sheet:
    """The non-blank rows of one sheet: (row number, counted from 1 as the spreadsheet does, the cells' text)."""

    source: str
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    #: the sheet's name in its workbook (None: a CSV file)
    name: str | None = None


def column_letters(index: int) -> str:
    """The spreadsheet's name of the column at ``index`` (0 → A, 25 → Z, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_name(row: int, index: int) -> str:
    """The spreadsheet's name of a cell: its column's letters and its row number (``L17``)."""
    return f"{column_letters(index)}{row}"


def read_sheet(path: str | Path, *, sheet: str | None = None) -> Sheet:
    """The sheet at ``path``: an .xlsx workbook's first sheet (or ``sheet``), or a CSV file; ``OSError`` when it
    cannot be read, ``SheetError`` when it is not one of these."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(b"PK\x03\x04"):  # a zip: an Office Open XML workbook
        return _workbook(path, raw, sheet)
    if sheet is not None:
        raise SheetError(f"a CSV file has no sheets; --sheet {sheet} is for an .xlsx workbook")
    if raw.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE2 compound file: Excel 97-2003
        raise SheetError("an Excel 97-2003 workbook (.xls) is not read: save it as .xlsx, or as CSV UTF-8")
    return _csv(str(path), _text(raw))


def _text(raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")  # Excel's "Unicode text"
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves "CSV" as GB18030 (GBK)
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError(f"not text in any encoding read here ({CSV_ENCODINGS}): save it as .xlsx, or as CSV UTF-8")


def _csv(source: str, text: str) -> Sheet:
    first = text.split("\n", 1)[0]
    # Excel's "Unicode text" separates by tabs; a header with tabs and no commas is read so
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if "\t" in first and "," not in first else ",")
    try:
        rows = tuple((number, tuple(c.strip() for c in cells))
                     for number, cells in enumerate(reader, start=1) if any(c.strip() for c in cells))
    except csv.Error as e:
        raise SheetError(f"row {reader.line_num} is not CSV ({e}): save the ledger again as .xlsx, or as CSV UTF-8") \
            from None
    return Sheet(source, rows)


def _workbook(path: Path, raw: bytes, name: str | None) -> Sheet:
    import openpyxl  # only for a workbook: CSV ledgers need no Excel library

    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=False, data_only=True)
    except Exception as e:  # a damaged zip or XML fails in any of zipfile's, zlib's, XML's or openpyxl's own ways
        raise SheetError(f"not an Excel workbook we can read ({type(e).__name__}): save it again as .xlsx, or as "
                         f"CSV UTF-8") from None
    if name is None:
        ws = book.worksheets[0]
    elif name in book.sheetnames:
        ws = book[name]
    else:
        raise SheetError(f"no sheet {name!r} (the workbook has {', '.join(repr(n) for n in book.sheetnames)})")
    cells = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:  # the value shows in the whole range, on screen
        value = cells[merged.min_row - 1][merged.min_col - 1] if merged.min_row <= len(cells) else ""
        for r in range(merged.min_row - 1, min(merged.max_row, len(cells))):
            row = cells[r]
            row.extend([""] * (merged.max_col - len(row)))
            for c in range(merged.min_col - 1, merged.max_col):
                row[c] = value
    rows = tuple((number, tuple(row)) for number, row in enumerate(cells, start=1) if any(row))
    return Sheet(str(path), rows, ws.title)


def _cell_text(value: object) -> str:
    """A cell's value as the user typed it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
