"""Charts drawn on the server: inline SVG for the pages (no script, no CDN), and
reportlab drawings for the PDF. Both take the same plain series."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 90, 20, 28, 40


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def bar_svg(
    title: str,
    labels: Sequence[str],
    bars: Sequence[Number],
    fmt: Callable[[Number], str],
    line: Sequence[Number] | None = None,
    line_label: str = "",
) -> SafeString:
    """A bar chart (with an optional running line on the same axis) as an SVG element."""
    values = [float(v) for v in bars]
    line_values = [float(v) for v in line] if line is not None else []
    top = _nice_max(max([*values, *line_values, 0.0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(values), 1)
    slot = plot_w / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>',
    ]
    for i in range(5):
        y = TOP + plot_h * i / 4
        tick = top * (4 - i) / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(tick))}</text>"
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = LEFT + i * slot + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" class="bar"><title>{escape(label)}: {escape(fmt(value))}</title>'
            f"</rect>"
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'class="tick">{escape(label)}</text>'
        )
    if line_values:
        points = " ".join(
            f"{LEFT + (i + 0.5) * slot:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
            for i, v in enumerate(line_values)
        )
        parts.append(f'<polyline points="{points}" class="line"/>')
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="18" text-anchor="end" class="line-label">'
            f"— {escape(line_label)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above is escaped


def bar_drawing(
    title: str,
    labels: Sequence[str],
    bars: Sequence[Number],
    fmt: Callable[[Number], str],
    font: str,
    line: Sequence[Number] | None = None,
) -> object:
    """The same chart as a reportlab Drawing, for the PDF."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    values = [float(v) for v in bars]
    line_values = [float(v) for v in line] if line is not None else []
    top = _nice_max(max([*values, *line_values, 0.0]))
    drawing = Drawing(480, 200)
    drawing.add(String(0, 188, title, fontName=font, fontSize=10))
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 80, 30, 380, 145
    chart.data = [values or [0.0]]
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = top
    chart.valueAxis.valueStep = top / 4
    chart.valueAxis.labelTextFormat = lambda v: fmt(v)
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = list(labels) or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#0b4f8a")
    drawing.add(chart)
    if line_values:
        running = HorizontalLineChart()
        running.x, running.y, running.width, running.height = 80, 30, 380, 145
        running.data = [line_values]
        running.valueAxis.valueMin = 0
        running.valueAxis.valueMax = top
        running.valueAxis.visible = False
        running.categoryAxis.visible = False
        running.lines[0].strokeColor = colors.HexColor("#b3261e")
        drawing.add(running)
    return drawing
