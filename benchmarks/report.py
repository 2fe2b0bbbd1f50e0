"""What every benchmark shares: a Markdown table of result rows, its JSON, NAME=CHECKPOINT options, and where the
shared real data lies (beside the checkout, never inside it)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
FERPLUS = SHARED / "data" / "ferplus"  # FER+ (48 px labelled faces)
HIRES = SHARED / "data" / "hires"  # sharper labelled portraits
STYLEGAN2 = SHARED / "stylegan2"  # StyleGAN2-ADA test pickles and their official outputs


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


def whole(low: int, high: int | None = None):
    """An argparse type: a whole number from `low` (to `high`), checked before any work ("--faces 0" had been a
    ZeroDivisionError, or minutes of judge training first)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value}: expected from {low:,}" + (f" to {high:,}" if high else " up"))
        return value
    return parse


def number(low: float, high: float):
    """An argparse type: a finite number from `low` to `high`."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value:g}: expected from {low:g} to {high:g}")
        return value
    return parse


def existing(text: str) -> Path:
    """An argparse type: a file or folder that exists, checked before any work."""
    import argparse

    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return path


def guarded(main) -> None:
    """Run a benchmark's main as the CLI runs a command: a library error or an OS error (a missing file, a
    folder that cannot be written) is one line and exit 1, Ctrl-C one line and exit 130, not a traceback."""
    import sys

    from emosketch.errors import EmosketchError
    from emosketch.terminal import safe

    try:
        code = main()
    except EmosketchError as exc:
        sys.exit(f"error: {safe(str(exc))}")
    except KeyboardInterrupt:
        print("\ninterrupted: a JSON written before it stands; run it again for the rest", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.exit(f"error: {safe(where + (exc.strerror or str(exc)))}")
    sys.exit(code or 0)
