"""Text tables: the one place that lines up columns for a terminal (`provador runs`, `studies`,
`data info`, a study's trials)."""

from __future__ import annotations

import json


def table(columns: list[tuple[str, str]], rows: list[list]) -> str:
    """Aligned columns, each `(title, "<width" or ">width")`, a title or cell longer than its
    width (a Portuguese title, a long run name) widening it; a last column `(title, " ")` is
    free text after two spaces."""
    cells = [[title for title, _align in columns], *[[str(c) for c in row] for row in rows]]
    free = columns[-1][1] == " "
    fixed = columns[:-1] if free else columns
    specs = [(align[0], max(int(align[1:]), *(len(row[i]) for row in cells))) for i, (_t, align) in enumerate(fixed)]
    lines = []
    for row in cells:
        line = " ".join(f"{cell:{side}{width}}" for cell, (side, width) in zip(row, specs))
        lines.append((f"{line}  {row[-1]}" if free else line).rstrip())
    return "\n".join(lines)


def columns_of(header: list[str], body: list[list[str]]) -> str:
    """A table whose columns are as wide as their widest cell, all aligned left (trials.csv)."""
    rows = [header, *body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def rows_or_json(rows: list[dict], as_json: bool, empty: str) -> bool:
    """Print the rows as JSON, or say there are none; True when the caller is to print its table."""
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(empty)
    return bool(rows) and not as_json
