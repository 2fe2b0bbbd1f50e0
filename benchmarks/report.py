"""What every benchmark shares: a Markdown table of result rows, its JSON, and NAME=CHECKPOINT options."""

from __future__ import annotations

from pathlib import Path


def table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v) -> str:
        if isinstance(v, float):  # small values keep 4 significant digits, large ones 2 decimals
            return f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.rjust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def write_json(out, name: str, data) -> None:
    """`data` as indented JSON in the folder `out` (made if missing), and a line saying where."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(data, indent=1))
    print(f"\nwrote {out / name}")


def named_checkpoints(specs: list[str], option: str) -> list[tuple[str, Path]]:
    """Repeated NAME=CHECKPOINT options -> [(name, path)]; one line and exit for a bad one or a missing file."""
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"{option} {spec!r}: expected NAME=CHECKPOINT of a file that exists")
        out.append((name, Path(path)))
    return out
