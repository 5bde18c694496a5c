"""Server-side SVG charts for the indicators: horizontal bars and week-by-week lines of shares (0 to 1).

Plain SVG with presentation attributes (no script, no inline style), so the strict
Content-Security-Policy of the console holds and the page prints and saves as it shows.
"""

from __future__ import annotations

from markupsafe import Markup, escape

COLORS = ("#1f5fa8", "#d0632a", "#2e8b57", "#8e44ad", "#b8860b", "#c0392b")
WIDTH = 720


def _svg(height: int, title: str, body: list[str]) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
                  f'width="{WIDTH}" height="{height}"><title>{escape(title)}</title>{"".join(body)}</svg>')


def bar_chart(title: str, bars: list[tuple[str, float]], *, label_width: int = 260) -> Markup:
    """One bar per (label, share); the share written at the end of the bar."""
    row, top = 22, 28
    span = WIDTH - label_width - 70
    body = [f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, share) in enumerate(bars):
        y = top + i * row
        width = max(0.0, min(share, 1.0)) * span
        body.append(f'<text x="{label_width - 6}" y="{y + 14}" font-size="12" text-anchor="end">'
                    f'{escape(label[:40])}</text>'
                    f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row - 6}" '
                    f'fill="{COLORS[0]}"/>'
                    f'<text x="{label_width + width + 4:.1f}" y="{y + 14}" font-size="12">{share:.0%}</text>')
    if not bars:
        body.append(f'<text x="0" y="{top + 14}" font-size="12">no data yet</text>')
    return _svg(top + max(len(bars), 1) * row + 6, title, body)


def line_chart(title: str, series: dict[str, list[tuple[str, float]]]) -> Markup:
    """One line per series of (x label, share), on a shared axis from 0 to the highest share (at least 10 %)."""
    left, top, plot_w, plot_h = 48, 30, WIDTH - 48 - 130, 200
    points = [v for values in series.values() for _, v in values]
    peak = max([0.1, *points])
    xs = [x for x, _ in next(iter(series.values()), [])]
    step = plot_w / max(len(xs) - 1, 1)
    body = [f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i in range(5):  # horizontal grid, 0 to peak
        y = top + plot_h - i * plot_h / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{peak * i / 4:.0%}</text>')
    every = max(1, len(xs) // 6)
    for i, x in enumerate(xs):
        if i % every == 0:
            body.append(f'<text x="{left + i * step:.1f}" y="{top + plot_h + 16}" font-size="11" '
                        f'text-anchor="middle">{escape(x[5:])}</text>')
    for n, (name, values) in enumerate(series.items()):
        color = COLORS[n % len(COLORS)]
        coords = " ".join(f"{left + i * step:.1f},{top + plot_h - v / peak * plot_h:.1f}"
                          for i, (_, v) in enumerate(values))
        body.append(f'<polyline class="line" points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'
                    f'<rect x="{left + plot_w + 14}" y="{top + n * 18}" width="12" height="12" fill="{color}"/>'
                    f'<text x="{left + plot_w + 30}" y="{top + n * 18 + 11}" font-size="12">{escape(name)}</text>')
    if not xs:
        body.append(f'<text x="{left}" y="{top + 20}" font-size="12">no data yet</text>')
    return _svg(top + plot_h + 26, title, body)
