"""Inline SVG charts (no scripts, no external loads); every label is escaped here."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["PALETTE", "CLASS_PALETTE", "arm_color", "class_color", "bar_chart", "line_chart", "stacked_bars"]

# Arms (Tableau 10); persona classes get their own palette, so a class is never read as an arm
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
CLASS_PALETTE = ["#1b4332", "#6a3d9a", "#b15928", "#1f78b4", "#e31a1c", "#33a02c", "#fdbf6f", "#cab2d6", "#8c510a",
                 "#01665e", "#c51b7d", "#4d4d4d"]
Bar = tuple[str, float | None, float | None, float | None]  # arm, estimate, ci_low, ci_high
LEGEND_COL = 150  # px per legend entry; entries wrap to the chart's width
LEGEND_ROW = 16


def arm_color(arms: Sequence[str], arm: str) -> str:
    return PALETTE[list(arms).index(arm) % len(PALETTE)] if arm in arms else "#888"


def class_color(classes: Sequence[str], cls: str) -> str:
    return CLASS_PALETTE[list(classes).index(cls) % len(CLASS_PALETTE)] if cls in classes else "#888"


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def _per_row(width: int) -> int:
    return max(1, (width - 10) // LEGEND_COL)


def _legend_height(n: int, width: int) -> int:
    return LEGEND_ROW * ((n + _per_row(width) - 1) // _per_row(width))


def _legend(entries: Sequence[tuple[str, str]], y: float, width: int) -> str:
    """(label, colour) swatches in rows that fit `width`; a long label is cut to its column."""
    parts, per_row = [], _per_row(width)
    for i, (label, color) in enumerate(entries):
        x = 10 + (i % per_row) * LEGEND_COL
        yy = y + (i // per_row) * LEGEND_ROW
        short = label if len(label) <= 20 else label[:19] + "…"
        parts.append(f'<g class="legend-entry" data-series="{escape(label)}"><rect x="{x}" y="{yy}" width="10" '
                     f'height="10" fill="{color}"/><text x="{x + 14}" y="{yy + 9}" class="lg">{escape(short)}'
                     f'<title>{escape(label)}</title></text></g>')
    return "".join(parts)


def _svg(title: str, width: int, height: int, body: str) -> Markup:
    return Markup(f'<figure><figcaption>{escape(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" '
                  f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="{escape(title)}">{body}</svg></figure>')


def bar_chart(title: str, groups: Sequence[tuple[str, Sequence[Bar]]], arms: Sequence[str], width: int = 640,
              x_title: str = "mean (whiskers: 95% CI)") -> Markup:
    """Horizontal grouped bars (one group per metric, one bar per arm) with CI error bars."""
    values = [v for _, bars in groups for b in bars for v in b[1:] if v is not None]
    lo, hi = min([0.0, *values]), max([1e-9, *values])
    left, right, bar_h = 230, width - 50, 11
    scale = (right - left) / (hi - lo)
    x = lambda v: left + (v - lo) * scale  # noqa: E731
    out, y = [], 30
    for label, bars in groups:
        out.append(f'<text x="4" y="{y + bar_h}" class="gl">{escape(label[:40])}</text>')
        for arm, est, cl, ch in bars:
            if est is not None:
                x0, x1 = sorted((x(0.0), x(est)))
                out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.5):.1f}" height="{bar_h - 2}" '
                           f'fill="{arm_color(arms, arm)}"><title>{escape(arm)}: {_fmt(est)} '
                           f'[{_fmt(cl)}, {_fmt(ch)}]</title></rect>')
            if cl is not None and ch is not None:
                m = y + (bar_h - 2) / 2
                out.append(f'<path d="M{x(cl):.1f} {m:.1f}H{x(ch):.1f}'
                           f'M{x(cl):.1f} {m - 3:.1f}v6M{x(ch):.1f} {m - 3:.1f}v6" '
                           f'stroke="#222" fill="none"/>')
            out.append(f'<text x="{right + 4}" y="{y + bar_h - 3}" class="vl">{_fmt(est)}</text>')
            y += bar_h
        y += 8
    axis = f'<path d="M{x(0.0):.1f} 24V{y}" stroke="#999"/><text x="{left}" y="22" class="vl">{_fmt(lo)}</text>' \
           f'<text x="{right}" y="22" class="vl" text-anchor="end">{_fmt(hi)}</text>' \
           f'<text x="{(left + right) / 2:.0f}" y="10" class="axis-title" text-anchor="middle">{escape(x_title)}</text>'
    legend_y = y + 6
    height = legend_y + _legend_height(len(arms), width) + 4
    legend = _legend([(a, arm_color(arms, a)) for a in arms], legend_y, width)
    return _svg(title, width, height, axis + "".join(out) + legend)


def line_chart(title: str, series: dict[str, list[tuple[str, float | None, float | None, float | None]]],
               arms: Sequence[str], width: int = 460, height: int = 220, x_title: str = "",
               y_title: str = "mean (95% CI)") -> Markup:
    """One line per arm over categorical x values (token positions, turns), with CI whiskers; the legend
    uses each line's own colour (the arm's)."""
    xs: list[str] = []
    for pts in series.values():
        xs += [p[0] for p in pts if p[0] not in xs]
    values = [v for pts in series.values() for p in pts for v in p[1:] if v is not None]
    lo, hi = min([0.0, *values]), max([1.0, *values])
    height += _legend_height(len(series), width)
    left, right, top, bottom = 52, width - 10, 20, height - 52 - _legend_height(len(series), width)
    px = lambda i: left + (right - left) * (i + 0.5) / max(len(xs), 1)  # noqa: E731
    py = lambda v: bottom - (v - lo) / (hi - lo) * (bottom - top)  # noqa: E731
    out = [f'<path d="M{left} {top}V{bottom}H{right}" stroke="#999" fill="none"/>',
           f'<text x="{left - 4}" y="{top + 4}" class="vl" text-anchor="end">{_fmt(hi)}</text>'
           f'<text x="{left - 4}" y="{bottom}" class="vl" text-anchor="end">{_fmt(lo)}</text>',
           f'<text x="{(left + right) / 2:.0f}" y="{bottom + 30}" class="axis-title" text-anchor="middle">'
           f'{escape(x_title)}</text>',
           f'<text transform="translate(14 {(top + bottom) / 2:.0f}) rotate(-90)" class="axis-title" '
           f'text-anchor="middle">{escape(y_title)}</text>']
    out += [f'<text x="{px(i):.1f}" y="{bottom + 14}" class="vl" text-anchor="middle">{escape(v)}</text>'
            for i, v in enumerate(xs)]
    for arm, pts in series.items():
        color = arm_color(arms, arm)
        coords = [(px(xs.index(p[0])), py(p[1]), p) for p in pts if p[1] is not None]
        if coords:
            out.append(f'<polyline class="series" data-series="{escape(arm)}" '
                       f'points="{" ".join(f"{a:.1f},{b:.1f}" for a, b, _ in coords)}" fill="none" '
                       f'stroke="{color}" stroke-width="2"/>')
        for a, b, p in coords:
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"><title>{escape(arm)} @ {escape(p[0])}: '
                       f'{_fmt(p[1])} [{_fmt(p[2])}, {_fmt(p[3])}]</title></circle>')
            if p[2] is not None and p[3] is not None:
                lo_y, hi_y = py(p[2]), py(p[3])
                out.append(f'<path class="whisker" d="M{a:.1f} {lo_y:.1f}V{hi_y:.1f}M{a - 3:.1f} {lo_y:.1f}h6'
                           f'M{a - 3:.1f} {hi_y:.1f}h6" stroke="{color}"/>')
    legend = _legend([(a, arm_color(arms, a)) for a in series], bottom + 38, width)
    return _svg(title, width, height, "".join(out) + legend)


def stacked_bars(title: str, shares: dict[str, list[tuple[str, float | None]]], width: int = 640) -> Markup:
    """One horizontal 100% bar per arm, split into persona classes."""
    classes: list[str] = []
    for parts in shares.values():
        classes += [c for c, _ in parts if c not in classes]
    left, right, out, y = 160, width - 10, [], 10
    for arm, parts in shares.items():
        out.append(f'<text x="4" y="{y + 12}" class="gl">{escape(arm[:24])}</text>')
        total = sum(v or 0.0 for _, v in parts) or 1.0
        x = float(left)
        for cls, v in parts:
            w = (right - left) * (v or 0.0) / total
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="16" fill="{class_color(classes, cls)}">'
                       f'<title>{escape(arm)}: {escape(cls)} {_fmt(v)}</title></rect>')
            x += w
        y += 22
    legend = _legend([(c, class_color(classes, c)) for c in classes], y + 6, width)
    return _svg(title, width, y + 10 + _legend_height(len(classes), width), "".join(out) + legend)
