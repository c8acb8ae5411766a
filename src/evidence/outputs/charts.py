"""Charts for the report as inline SVG, built here so the report needs no chart library and no network.

Every text that comes from the case (an actor's name, a key date's note) goes through markupsafe.escape:
a name such as `</text><script>` stays text. Colours are SVG presentation attributes, never `style`
attributes, so the report's Content-Security-Policy needs no 'unsafe-inline'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup, escape

# Colour-blind-safe qualitative palette (Okabe-Ito), then grey for "everyone else".
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
OTHERS_COLOUR = "#9a9a9a"
KEY_DATE_COLOURS = {
    "stop_request": "#B00020",
    "order": "#6A1B9A",
    "police_report": "#1B5E20",
    "other": "#37474F",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: dict[date, int]  # week (its Monday) -> contacts


@dataclass(frozen=True)
class KeyDate:
    when: date  # local day
    kind: str
    label: str


_EPOCH = datetime(1970, 1, 1)


def _stamp(moment: datetime) -> float:
    """Seconds of a naive local time (the case's time zone), without the machine's own zone."""
    return (moment.replace(tzinfo=None) - _EPOCH).total_seconds()


def _moment(stamp: float) -> datetime:
    return _EPOCH + timedelta(seconds=stamp)


def local_time(stamp: float) -> datetime:
    """A naive local time from seconds since 1970 counted in local time (DuckDB epoch() of a local TIMESTAMP)."""
    return _moment(stamp)


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _nice_max(value: int) -> int:
    if value <= 4:
        return max(value, 1)
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return value


def weekly_chart(
    weeks: Sequence[date], series: Sequence[Series], key_dates: Sequence[KeyDate], title: str
) -> Markup:
    """Stacked bars of contacts per week, one colour per person, key dates as labelled vertical lines."""
    width, height = 960, 340
    left, right, top, bottom = 48, 16, 24 + 16 * min(len(key_dates), 6), 70
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    if not weeks:
        return _svg(width, 60, title, ['<text x="10" y="30">No dated contact.</text>'])
    index = {w: i for i, w in enumerate(weeks)}
    totals = [sum(s.values.get(w, 0) for s in series) for w in weeks]
    ymax = _nice_max(max(totals) or 1)
    bar = plot_w / len(weeks)
    for frac in (0, 0.5, 1):
        y = top + plot_h - frac * plot_h
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end" class="tick">{_fmt(frac * ymax)}</text>'
        )
    for i, week in enumerate(weeks):
        y = top + plot_h
        for s in series:
            count = s.values.get(week, 0)
            if not count:
                continue
            h = count / ymax * plot_h
            y -= h
            body.append(
                f'<rect x="{_fmt(left + i * bar + 0.5)}" y="{_fmt(y)}" width="{_fmt(max(bar - 1, 0.6))}" '
                f'height="{_fmt(h)}" fill="{s.colour}"><title>week of {week.isoformat()}: {escape(s.label)}, '
                f"{count} contact{'s' if count != 1 else ''}</title></rect>"
            )
    # x labels: the first week of each month (thinned so they do not overlap)
    last_x = -1e9
    for i, week in enumerate(weeks):
        if i == 0 or week.month != weeks[i - 1].month:
            x = left + i * bar
            if x - last_x >= 44:
                body.append(
                    f'<text x="{_fmt(x)}" y="{top + plot_h + 14}" class="tick">{week:%b %Y}</text>'
                    f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#666"/>'
                )
                last_x = x
    for n, kd in enumerate(key_dates):
        monday = kd.when - timedelta(days=kd.when.weekday())
        if monday < weeks[0] or monday > weeks[-1]:
            continue
        x = left + index.get(monday, 0) * bar + (kd.when.weekday() + 0.5) / 7 * bar
        colour = KEY_DATE_COLOURS.get(kd.kind, KEY_DATE_COLOURS["other"])
        label_y = 14 + 16 * (n % 6)
        body.append(
            f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{label_y + 2}" y2="{top + plot_h}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text x="{_fmt(x + 3)}" y="{label_y}" fill="{colour}" class="keydate"'
            f"{' text-anchor=' + chr(34) + 'end' + chr(34) if x > width * 0.7 else ''}>"
            f"{escape(kd.label)}</text>"
        )
    # legend
    x, y = left, height - bottom + 34
    for s in series:
        label = s.label if len(s.label) <= 28 else s.label[:27] + "…"
        body.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{s.colour}"/>'
            f'<text x="{x + 14}" y="{y}" class="legend">{escape(label)}</text>'
        )
        x += 24 + 7 * len(label)
        if x > width - 160:
            x, y = left, y + 16
    return _svg(width, height, title, body)


def heatmap(counts: dict[tuple[int, int], int], tz: str, title: str) -> Markup:
    """Weekday (Mon-Sun) x hour (0-23) grid of contacts; darker is more. counts[(isodow 1-7, hour)]."""
    cell, left, top = 34, 44, 22
    width, height = left + 24 * cell + 10, top + 7 * cell + 40
    peak = max(counts.values(), default=0)
    body = []
    for hour in range(24):
        body.append(
            f'<text x="{left + hour * cell + cell / 2}" y="{top - 6}" text-anchor="middle" class="tick">'
            f"{hour:02d}</text>"
        )
    for day in range(7):
        y = top + day * cell
        body.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end" class="tick">{WEEKDAYS[day]}</text>'
        )
        for hour in range(24):
            count = counts.get((day + 1, hour), 0)
            shade = 0 if not peak else count / peak
            # white to dark blue; a cell with any contact is never white
            level = 0.0 if not count else 0.12 + 0.88 * math.sqrt(shade)
            r, g, b = (round(255 - level * (255 - c)) for c in (8, 48, 107))
            ink = "#fff" if level > 0.55 else "#222"
            body.append(
                f'<rect x="{left + hour * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="#{r:02x}{g:02x}{b:02x}" stroke="#eee"><title>{WEEKDAYS[day]} {hour:02d}:00-{hour:02d}:59 '
                f"({escape(tz)}): {count} contact{'s' if count != 1 else ''}</title></rect>"
            )
            if count:
                body.append(
                    f'<text x="{left + hour * cell + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                    f'class="cellnum" fill="{ink}">{count if count < 1000 else f"{count // 1000}k"}</text>'
                )
    body.append(
        f'<text x="{left}" y="{height - 12}" class="legend">Hours in {escape(tz)}. '
        f"Darker cells: more contacts (busiest cell: {peak}).</text>"
    )
    return _svg(width, height, title, body)


def gaps_chart(points: Sequence[tuple[datetime, float, int]], labels: Sequence[str], title: str) -> Markup:
    """Each incident as a dot: when it started (x) and how long since the same person's previous incident
    (y, log scale from 1 minute to a year). points: (start, gap in seconds, series index)."""
    width, height = 960, 300
    left, right, top, bottom = 70, 16, 16, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        return _svg(
            width, 60, title, ['<text x="10" y="30">No gaps: fewer than two incidents per person.</text>']
        )
    t0 = _stamp(min(p[0] for p in points))
    t1 = _stamp(max(p[0] for p in points))
    span = max(t1 - t0, 1.0)
    lo, hi = math.log10(60), math.log10(366 * 86400)
    body = []
    for seconds, name in (
        (60, "1 min"),
        (3600, "1 hour"),
        (86400, "1 day"),
        (7 * 86400, "1 week"),
        (30 * 86400, "30 days"),
        (365 * 86400, "1 year"),
    ):
        y = top + plot_h - (math.log10(seconds) - lo) / (hi - lo) * plot_h
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="#e4e4e4"/>'
            f'<text x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end" class="tick">{name}</text>'
        )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        moment = _moment(t0 + frac * span)
        x = left + frac * plot_w
        body.append(
            f'<text x="{_fmt(x)}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">{moment:%d %b %Y}</text>'
        )
    step = max(1, len(points) // 4000)  # a very long course of conduct: every n-th dot (the table has all)
    for start, gap, series in points[::step]:
        x = left + (_stamp(start) - t0) / span * plot_w
        y = top + plot_h - (math.log10(min(max(gap, 60), 366 * 86400)) - lo) / (hi - lo) * plot_h
        colour = PALETTE[series % len(PALETTE)] if series >= 0 else OTHERS_COLOUR
        body.append(f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3" fill="{colour}" fill-opacity="0.75"/>')
    x = left
    for n, label in enumerate(labels):
        short = label if len(label) <= 28 else label[:27] + "…"
        body.append(
            f'<circle cx="{x + 5}" cy="{height - 14}" r="5" fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{height - 10}" class="legend">{escape(short)}</text>'
        )
        x += 24 + 7 * len(short)
    return _svg(width, height, title, body)


def cumulative_chart(
    firsts: Sequence[datetime], key_dates: Sequence[tuple[datetime, str, str]], title: str
) -> Markup:
    """A step line: how many distinct numbers, addresses and accounts had written by each date."""
    width, height = 960, 220
    left, right, top, bottom = 48, 16, 30, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    if not firsts:
        return _svg(width, 60, title, ['<text x="10" y="30">No identifiers.</text>'])
    moments = sorted(firsts)
    stamps = [_stamp(m) for m in moments] + [_stamp(k[0]) for k in key_dates]
    t0, t1 = min(stamps), max(stamps)
    span = max(t1 - t0, 1.0)
    total = len(moments)

    def xy(stamp: float, n: int) -> tuple[float, float]:
        return left + (stamp - t0) / span * plot_w, top + plot_h - n / total * plot_h

    path = []
    for n, moment in enumerate(moments, start=1):
        x, y_before = xy(_stamp(moment), n - 1)
        _, y = xy(_stamp(moment), n)
        path.append(f"{'M' if n == 1 else 'L'}{_fmt(x)},{_fmt(y_before)} L{_fmt(x)},{_fmt(y)}")
    end_x, end_y = xy(t1, total)
    path.append(f"L{_fmt(end_x)},{_fmt(end_y)}")
    body = [
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{total}</text>',
        f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" class="tick">0</text>',
        f'<path d="{" ".join(path)}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>',
    ]
    for frac in (0, 0.5, 1):
        moment = _moment(t0 + frac * span)
        body.append(
            f'<text x="{_fmt(left + frac * plot_w)}" y="{height - 8}" text-anchor="middle" class="tick">{moment:%d %b %Y}</text>'
        )
    for n, (moment, kind, label) in enumerate(key_dates):
        x, _ = xy(_stamp(moment), 0)
        colour = KEY_DATE_COLOURS.get(kind, KEY_DATE_COLOURS["other"])
        body.append(
            f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{top - 4}" y2="{top + plot_h}" stroke="{colour}" stroke-dasharray="5 3"/>'
            f'<text x="{_fmt(x + 3)}" y="{10 + 10 * (n % 2)}" fill="{colour}" class="keydate"'
            f"{' text-anchor=' + chr(34) + 'end' + chr(34) if x > width * 0.7 else ''}>{escape(label)}</text>"
        )
    return _svg(width, height, title, body)
