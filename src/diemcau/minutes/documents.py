"""Minutes as a Vietnamese administrative document, in Word (.docx) and PDF.

Layout after Decree 30/2020/NĐ-CP: issuing body top left with the document number, the
national motto top right, the place and date line, the title, the body, and the signature
block (secretary, chair). The body is built once as a list of blocks and rendered by both
writers, so the two files always say the same thing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from diemcau.exportsafety import pdf_markup, xml_text

MOTTO_1 = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_2 = "Độc lập - Tự do - Hạnh phúc"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Block:
    kind: str  # "h" heading, "p" paragraph, "t" table
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _n(value: Any) -> str:
    """A count the Vietnamese way (1.512)."""
    return f"{int(value):,}".replace(",", ".") if value is not None else "—"


def body(record: dict[str, Any], fields: dict[str, str]) -> list[Block]:
    t = record["totals"]
    time_line = _("Time: %(when)s (started %(start)s, ended %(end)s).") % {
        "when": record["scheduled"],
        "start": record["started"] or "—",
        "end": record["ended"] or "—",
    }
    form_line = _("Form: %(kind)s, %(format)s; main site: %(main)s.") % {
        "kind": record["kind"],
        "format": record["format"],
        "main": record["main_site"],
    }
    people_line = _("Chaired by: %(chair)s. Secretary: %(secretary)s.") % {
        "chair": fields.get("chair_name") or "…",
        "secretary": fields.get("secretary_name") or "…",
    }
    attendance_line = _(
        "Attendance: %(present)d of %(invited)d sites; "
        "%(delegates)s delegates present (expected %(expected)s)."
    ) % {
        "present": t["present"],
        "invited": t["invited"],
        "delegates": _n(t["delegates"]),
        "expected": _n(t["expected"]),
    }
    out: list[Block] = [
        Block("p", time_line),
        Block("p", form_line),
        Block("p", people_line),
        Block("p", attendance_line),
    ]
    if fields.get("opening"):
        out += [Block("h", _("I. Opening")), Block("p", fields["opening"])]
    if record["agenda"]:
        out.append(Block("h", _("II. Agenda")))
        out += [
            Block("p", f"{i}. {a['title']}" + (f" — {a['presenter']}" if a["presenter"] else ""))
            for i, a in enumerate(record["agenda"], start=1)
        ]
    roll_numbers = [str(rc["number"]) for rc in record["roll_calls"]]
    out.append(Block("h", _("III. Attendance per site")))
    out.append(
        Block(
            "t",
            header=(
                _("Site"),
                _("Joined"),
                _("Left"),
                _("Connections"),
                *(_("Roll call %s") % n for n in roll_numbers),
            ),
            rows=tuple(
                (
                    s["name"],
                    s["joined"] or _("absent"),
                    s["left"],
                    str(len(s["connections"])),
                    *(_n(d) if d is not None else "—" for d in s["delegates"]),
                )
                for s in record["sites"]
            ),
        )
    )
    if t["absent"]:
        out.append(Block("p", _("Absent sites: %s.") % ", ".join(t["absent"])))
    if record["roll_calls"]:
        header = (_("Roll call"), _("Opened"), _("Closed"), _("Sites"), _("Delegates"))
        rows = tuple(
            (
                str(rc["number"]),
                rc["opened"],
                rc["closed"],
                str(rc["sites_present"]),
                _n(rc["delegates_present"]),
            )
            for rc in record["roll_calls"]
        )
        out.append(Block("t", header=header, rows=rows))
    out.append(Block("h", _("IV. Speakers")))
    if record["speakers"]:
        out.append(
            Block(
                "t",
                header=("#", _("Site"), _("Topic"), _("From"), _("To")),
                rows=tuple(
                    (str(i), s["site"], s["topic"], s["from"], s["to"])
                    for i, s in enumerate(record["speakers"], start=1)
                ),
            )
        )
    else:
        out.append(Block("p", _("No site took the floor.")))
    if record["unanswered"]:
        waiting = "; ".join(
            u["site"] + (f" ({u['topic']})" if u["topic"] else "") for u in record["unanswered"]
        )
        out.append(Block("p", _("Requests to speak not granted: %s.") % waiting))
    out.append(Block("h", _("V. Votes")))
    if not record["votes"]:
        out.append(Block("p", _("No votes were held.")))
    for v in record["votes"]:
        if not v["quorum"]:
            verdict = _("not valid (quorum not reached)")
        else:
            verdict = _("adopted") if v["adopted"] else _("not adopted")
        tally = "; ".join(f"{o}: {_n(v['tally'].get(o, 0))}" for o in v["options"])
        line = _(
            "Vote %(n)d (%(how)s%(secret)s): %(text)s — %(tally)s; "
            "%(cast)s of %(eligible)s votes cast, %(sites)d sites voted: %(verdict)s."
        ) % {
            "n": v["number"],
            "how": v["counting"],
            "secret": (", " + _("secret ballot")) if v["secret"] else "",
            "text": v["text"],
            "tally": tally,
            "cast": _n(v["cast"]),
            "eligible": _n(v["eligible"]),
            "sites": v["sites_voted"],
            "verdict": verdict,
        }
        out.append(Block("p", line))
        if v["ballots"]:
            out.append(
                Block(
                    "t",
                    header=(_("Site"), _("Vote")),
                    rows=tuple(
                        (b["site"], ", ".join(f"{k}: {_n(n)}" for k, n in b["counts"].items()))
                        for b in v["ballots"]
                    ),
                )
            )
    if record["directives"]:
        out.append(Block("h", _("VI. Directives")))
        for d in record["directives"]:
            missing = (
                (_(" Not yet confirmed: %s.") % ", ".join(d["missing"])) if d["missing"] else ""
            )
            line = _("%(number)s %(title)s: confirmed by %(ack)d of %(sent)d sites.") % {
                "number": d["number"],
                "title": d["title"],
                "ack": d["acknowledged"],
                "sent": d["sent"],
            }
            out.append(Block("p", line + missing))
    if fields.get("conclusions"):
        out += [Block("h", _("VII. Conclusions")), Block("p", fields["conclusions"])]
    if record["chat"]:
        out.append(Block("h", _("VIII. Messages and questions")))
        out.append(
            Block(
                "t",
                header=(_("Time"), _("From"), _("Message")),
                rows=tuple((c["at"], c["who"], c["text"]) for c in record["chat"]),
            )
        )
    if fields.get("notes"):
        out += [Block("p", fields["notes"])]
    if record.get("links"):  # records finalised before issue 12 have none
        out.append(Block("h", _("Technical annex: sites on a weak link")))
        out.append(
            Block(
                "t",
                header=(_("Site"), _("Time degraded"), _("Time audio only"), _("Worst layer")),
                rows=tuple(
                    (
                        s["name"],
                        _duration(s["degraded_seconds"]),
                        _duration(s["audio_seconds"]),
                        layer_label(s["worst"]),
                    )
                    for s in record["links"]
                ),
            )
        )
    return out


def _duration(seconds: int) -> str:
    """h:mm:ss (0:04:30)."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def layer_label(layer: str) -> str:
    """The ladder's layers (live/linkpolicy.py) in words."""
    labels = {
        "high": _("high"),
        "high_half_rate": _("high, half frame rate"),
        "medium": _("medium"),
        "low": _("low"),
        "low_half_rate": _("low, half frame rate"),
        "audio": _("audio only"),
    }
    return labels.get(layer, layer)


def date_line(record: dict[str, Any]) -> str:
    return _("%(place)s, day %(d)02d month %(m)02d year %(y)d") % {
        "place": record["place"],
        "d": record["day"],
        "m": record["month"],
        "y": record["year"],
    }


# --- Word ------------------------------------------------------------------------------


def to_docx(record: dict[str, Any], fields: dict[str, str], version: int, final: bool) -> bytes:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)

    head = doc.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = head.rows[0].cells
    p = left.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    # Every text below goes through xml_text: a control character in a chat message or
    # a topic would otherwise make python-docx refuse the whole file.
    p.add_run(xml_text(record["issuing_body"].upper())).bold = True
    number = fields.get("document_number") or "…/BB"
    left.add_paragraph(xml_text(_("No.: %s") % number)).alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = right.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run(MOTTO_1).bold = True
    p2 = right.add_paragraph()
    p2.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p2.add_run(MOTTO_2)
    run.bold = True
    run.underline = True
    p3 = right.add_paragraph()
    p3.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p3.add_run(xml_text(date_line(record))).italic = True

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    r = title.add_run(_("MINUTES"))
    r.bold = True
    r.font.size = Pt(14)
    sub = doc.add_paragraph()
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub.add_run(xml_text(record["title"])).bold = True
    if not final:
        doc.add_paragraph(_("DRAFT — not finalised")).alignment = WD_ALIGN_PARAGRAPH.CENTER

    for block in body(record, fields):
        if block.kind == "h":
            doc.add_paragraph().add_run(xml_text(block.text)).bold = True
        elif block.kind == "p":
            doc.add_paragraph(xml_text(block.text))
        else:
            table = doc.add_table(rows=1, cols=len(block.header))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, block.header, strict=True):
                cell.paragraphs[0].add_run(xml_text(text)).bold = True
            for row in block.rows:
                cells = table.add_row().cells
                for cell, text in zip(cells, row, strict=True):
                    cell.text = xml_text(text)
            doc.add_paragraph()

    sign = doc.add_table(rows=1, cols=2)
    for cell, (role, name) in zip(
        sign.rows[0].cells,
        (
            (_("SECRETARY"), fields.get("secretary_name", "")),
            (_("CHAIR"), fields.get("chair_name", "")),
        ),
        strict=True,
    ):
        p = cell.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run(role).bold = True
        hint = cell.add_paragraph(_("(signature, full name)"))
        hint.alignment = WD_ALIGN_PARAGRAPH.CENTER
        for _i in range(3):
            cell.add_paragraph()
        who = cell.add_paragraph()
        who.alignment = WD_ALIGN_PARAGRAPH.CENTER
        who.add_run(xml_text(name)).bold = True
    doc.core_properties.title = xml_text(record["title"])
    doc.core_properties.version = str(version)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# --- PDF -------------------------------------------------------------------------------


def _fonts() -> tuple[str, str]:
    """DejaVu Serif (Debian's fonts-dejavu-core) carries every Vietnamese glyph."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DCSerif" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DCSerif", str(FONT_DIR / "DejaVuSerif.ttf")))
        pdfmetrics.registerFont(TTFont("DCSerif-Bold", str(FONT_DIR / "DejaVuSerif-Bold.ttf")))
    return "DCSerif", "DCSerif-Bold"


def to_pdf(record: dict[str, Any], fields: dict[str, str], version: int, final: bool) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _fonts()
    p = ParagraphStyle("p", fontName=regular, fontSize=11, leading=15)
    c = ParagraphStyle("c", parent=p, alignment=TA_CENTER)
    cb = ParagraphStyle("cb", parent=c, fontName=bold)
    motto = ParagraphStyle("motto", parent=cb, fontSize=10, leading=13)
    h = ParagraphStyle("h", parent=p, fontName=bold, spaceBefore=8)
    cell = ParagraphStyle("cell", parent=p, fontSize=9, leading=11)
    cellb = ParagraphStyle("cellb", parent=cell, fontName=bold)

    def para(text: str, style: ParagraphStyle = p) -> Paragraph:
        return Paragraph(pdf_markup(text), style)

    number = fields.get("document_number") or "…/BB"
    head = Table(
        [
            [para(record["issuing_body"].upper(), motto), para(MOTTO_1, motto)],
            [para(_("No.: %s") % number, c), Paragraph(f"<u>{pdf_markup(MOTTO_2)}</u>", motto)],
            ["", para(date_line(record), c)],
        ],
        colWidths=[6.4 * cm, 9.6 * cm],
    )
    title = ParagraphStyle("t", parent=cb, fontSize=14, leading=18)
    story: list[Any] = [head, Spacer(1, 12), para(_("MINUTES"), title), para(record["title"], cb)]
    if not final:
        story.append(para(_("DRAFT — not finalised"), c))
    story.append(Spacer(1, 8))
    for block in body(record, fields):
        if block.kind == "h":
            story.append(para(block.text, h))
        elif block.kind == "p":
            story.append(para(block.text))
        else:
            data = [[para(x, cellb) for x in block.header]] + [
                [para(x, cell) for x in row] for row in block.rows
            ]
            table = Table(data, repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story += [table, Spacer(1, 6)]
    story.append(Spacer(1, 18))
    story.append(
        Table(
            [
                [para(_("SECRETARY"), cb), para(_("CHAIR"), cb)],
                [para(_("(signature, full name)"), c), para(_("(signature, full name)"), c)],
                ["", ""],
                [
                    para(fields.get("secretary_name", ""), cb),
                    para(fields.get("chair_name", ""), cb),
                ],
            ],
            colWidths=[8 * cm, 8 * cm],
            rowHeights=[None, None, 2 * cm, None],
        )
    )
    out = io.BytesIO()
    page = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=3 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=xml_text(record["title"]),
        author=xml_text(record["issuing_body"]),
    )
    page.build(story)
    return out.getvalue()
