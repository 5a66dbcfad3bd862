"""Small real Office files and PDFs, and broken ones, for the upload tests.

Real ones are made by the libraries that write them (python-docx, openpyxl, reportlab), so
a check that refuses them refuses what people upload.
"""

from __future__ import annotations

import io
import zipfile

from docx import Document
from openpyxl import Workbook
from reportlab.pdfgen import canvas

MIB = 1024 * 1024


def pdf() -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Chuong trinh hoi nghi")
    page.save()
    return out.getvalue()


def docx() -> bytes:
    doc = Document()
    doc.add_paragraph("Chương trình hội nghị")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx(rows: list[list[object]] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows or [["Chương trình", 1]]:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def pptx() -> bytes:
    """The parts a .pptx is recognised by (python-pptx is not installed)."""
    return zip_of(
        {
            "[Content_Types].xml": b"<Types/>",
            "ppt/presentation.xml": b"<p:presentation/>",
        }
    )


def bomb(real: bytes, unpacked: int = 64 * MIB) -> bytes:
    """`real` (an Office file) plus a member of `unpacked` zeros, which packs about a
    thousand times: the shape of the 205 KB sheet that took 640 MB to open."""
    out = io.BytesIO(real)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/padding.xml", "w") as member:
            chunk = bytes(MIB)
            for _ in range(unpacked // MIB):
                member.write(chunk)
    return out.getvalue()
