"""Rows of the bench's table: samples per runtime, medians, the median of per-pair ratios, goals.

Why per-pair ratios: the runtimes are measured in interleaved rounds, so round i of pyrunc and
round i of runc saw the same machine load; the median of pyrunc_i / runc_i cancels slow drifts
(other jobs on a 2-core machine) that a ratio of two medians would not.
"""
from __future__ import annotations

import statistics

COLUMNS = ("pyrunc", "runc", "crun")


class Row:
    """One line of the table.

    `samples[col]` is the per-round list for a column (None where a round has no value), aligned
    by round so that pairs can be formed. `goal` is ("ratio", x) for pyrunc/runc <= x,
    ("pyrunc", x) for pyrunc's median <= x (in the row's unit), or None.
    """

    def __init__(self, label: str, unit: str, samples: dict[str, list[float | None]],
                 goal: tuple[str, float] | None = None, note: str = "") -> None:
        self.label = label
        self.unit = unit
        self.samples = samples
        self.goal = goal
        self.note = note

    def median(self, col: str) -> float | None:
        vals = [v for v in self.samples.get(col) or [] if v is not None]
        return statistics.median(vals) if vals else None

    def ratio(self, num: str = "pyrunc", den: str = "runc") -> float | None:
        a, b = self.samples.get(num) or [], self.samples.get(den) or []
        rs = [x / y for x, y in zip(a, b) if x is not None and y]
        return statistics.median(rs) if rs else None

    def n(self, col: str = "pyrunc") -> int:
        return sum(v is not None for v in self.samples.get(col) or [])

    def met(self) -> bool | None:
        if self.goal is None:
            return None
        kind, limit = self.goal
        value = self.ratio() if kind == "ratio" else self.median("pyrunc")
        return None if value is None else value <= limit

    def goal_text(self) -> str:
        if self.goal is None:
            return "-"
        kind, limit = self.goal
        return f"<= {limit:.2f}x" if kind == "ratio" else f"<= {limit:g} {self.unit}"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "MB":
        return f"{value:.2f} MB"
    return f"{value:.3g} {unit}"


def table(rows: list[Row]) -> str:
    """A fixed-width table: benchmark, the three medians, pyrunc/runc, goal, met?."""
    head = ("benchmark", "pyrunc", "runc", "crun", "pyrunc/runc", "goal", "met?")
    body = []
    for r in rows:
        ratio = r.ratio()
        met = r.met()
        body.append((r.label, *(_fmt(r.median(c), r.unit) for c in COLUMNS),
                     "-" if ratio is None else f"{ratio:.2f}x", r.goal_text(),
                     "-" if met is None else ("yes" if met else "NO")))
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = []
    for k, line in enumerate([head, *body]):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(line, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    """The same table in Markdown, for tests/bench/README.md."""
    out = ["| benchmark | pyrunc | runc | crun | pyrunc/runc | goal | met? |",
           "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ratio, met = r.ratio(), r.met()
        label = r.label.strip()
        if r.label.startswith(" "):  # Markdown drops leading spaces: mark sub-rows instead
            label = "&nbsp;&nbsp;" + label
        out.append("| " + " | ".join([
            label, *(_fmt(r.median(c), r.unit) for c in COLUMNS),
            "-" if ratio is None else f"{ratio:.2f}x", r.goal_text(),
            "-" if met is None else ("yes" if met else "no")]) + " |")
    return "\n".join(out)
