"""User text written into the files we export: Word (.docx), Excel (.xlsx) and PDF.

What a site typed in the chat or in a request for the floor, a meeting's title, a site's
name reach these files as they were typed. Each format can be broken or abused by such
text in its own way, and each has one function here (issue 11, item 10):

- `xml_text`: .docx and .xlsx are XML 1.0, which cannot hold most control characters
  (https://www.w3.org/TR/xml/#charsets); python-docx and openpyxl raise on them, so one
  "\\x00" in a chat message made the minutes fail. They are dropped.
- `pdf_markup`: reportlab's Paragraph reads its text as markup (`<b>`, `<font>`, and
  `<img src=...>`, which embeds a file of the server's disk), so user text is escaped.
- `append_row`: a text cell that starts like a formula (`=`, `+`, `-`, `@`, or a tab or
  carriage return before one) is stored as a string with Excel's quote prefix, so it is
  not a formula in the file nor once someone edits the cell
  (https://owasp.org/www-community/attacks/CSV_Injection). The value keeps no apostrophe:
  the reader sees what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from openpyxl.worksheet.worksheet import Worksheet

# Characters XML 1.0 cannot hold: C0 controls but tab, line feed and carriage return; lone
# surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Word's manual line break and page break arrive as vertical tab and form feed when text
# is copied out of a document: they stay line breaks.
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n"})

# How a spreadsheet recognises a formula (or a DDE call) at the start of a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def xml_text(text: str) -> str:
    """`text` without the characters an XML 1.0 document (Word, Excel) cannot hold."""
    return _NOT_XML.sub("", text.translate(_BREAKS))


def pdf_markup(text: str) -> str:
    """`text` as the markup of a reportlab Paragraph that shows it literally."""
    return escape(xml_text(text))


def append_row(ws: Worksheet, values: Sequence[Any]) -> None:
    """Append a row to `ws`; text goes in clean, and as text even when it looks like a
    formula. Numbers, dates and None go in as they are."""
    row = [xml_text(v) if isinstance(v, str) else v for v in values]
    ws.append(row)
    for column, value in enumerate(row, start=1):
        if isinstance(value, str) and value:
            cell = ws.cell(row=ws.max_row, column=column)
            # openpyxl makes "=..." a formula and "#N/A" an error; a string is a string.
            if cell.data_type != "s" or value.startswith(FORMULA_STARTS):
                cell.data_type = "s"
                cell.quotePrefix = True
