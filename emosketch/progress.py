"""Progress of long jobs: a tqdm bar on a terminal, and off a terminal (a log, nohup, CI) one plain
line at least every 30 seconds with the count, the rate and the time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .terminal import raw


class LogProgress:
    """tqdm's update / set_postfix / close, written as lines: 'train: 120/4000 step (3%), 1.4 step/s,
    ETA 46m12s, G=0.31'. The first line comes after `every` seconds, the last on close."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0, every: float = 30.0,
                 stream: TextIO | None = None, clock=time.monotonic, final: bool = True):
        self.total, self.desc, self.unit, self.every, self.final = total, desc, unit, every, final
        self.lines = 0
        self.n = self.start_n = initial
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = self.last = clock()
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.clock() - self.last >= self.every:
            self.write()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def line(self) -> str:
        elapsed = max(1e-9, self.clock() - self.started)
        rate = (self.n - self.start_n) / elapsed
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.2f} {self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            left = int((self.total - self.n) / rate)
            parts.append(f"ETA {left // 3600}h{left // 60 % 60:02d}m" if left >= 3600 else f"ETA {left // 60}m{left % 60:02d}s")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def write(self) -> None:
        self.last = self.clock()
        self.lines += 1
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        """The last line; with final=False only after a line before it (a short job stays quiet)."""
        if self.n != self.start_n and (self.final or self.lines):
            self.write()


def progress(total: int | None, desc: str, unit: str, initial: int = 0, enabled: bool = True, leave: bool = True):
    """A progress bar for `total` units: tqdm when stderr is a terminal, LogProgress when it is not,
    and a silent one when enabled is False. With leave=False the bar goes when it closes, and off a
    terminal a job shorter than LogProgress's 30 seconds writes nothing."""
    from tqdm import tqdm

    if not enabled:
        return tqdm(total=total, initial=initial, disable=True)
    if sys.stderr.isatty():  # the bar's carriage returns are its own: it writes under the terminal guard
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, file=raw(sys.stderr))
    return LogProgress(total, desc, unit, initial, final=leave)


def stage(message: str, enabled: bool = True) -> None:
    """A short job's next step, said on a terminal's stderr (a log gets its bars' lines alone)."""
    if enabled and sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
