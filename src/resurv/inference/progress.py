"""Progress of a long job as the command line shows it: a bar on a terminal, lines otherwise.

The library reports progress through callbacks (``run_plan(steps=...)``,
``calibrate(progress=...)``); :class:`ProgressDisplay` turns those calls into text on a stream
(the command line passes ``sys.stderr``):

- on a terminal (``stream.isatty()``), one line redrawn in place (carriage return, erase to the
  end of the line): a bar, ``done/total``, the elapsed time, an estimate of the time left and the
  current step;
- otherwise (a log file, a pipe, CI), one plain line per message and per finished step, with the
  same counts and times.

Time left is the mean time per step finished since the display started times the steps left (no
estimate before the first step finishes). Steps done before the display started (a resumed
calibration whose first report is replicate k + 1) are not counted in that mean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressDisplay", "format_duration"]

BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour on), rounded to the second."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressDisplay:
    """Progress of ``total`` steps on ``stream``: a redrawn bar on a terminal, lines otherwise.

    Parameters
    ----------
    stream : file-like
        Where to write (default ``sys.stderr``).
    unit : str
        What a step is, e.g. ``"runs"`` or ``"replicates"``.
    terminal : bool, optional
        Force the terminal (bar) or plain (lines) mode; default ``stream.isatty()``.
    clock : callable
        Seconds (default :func:`time.monotonic`); the start is the first call.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        unit: str = "steps",
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.total: int | None = None
        self.current = ""
        self._drawn = False
        self._base: int | None = None

    def elapsed(self) -> float:
        """Seconds since the display was made."""
        return self.clock() - self.start

    def left(self) -> float | None:
        """Estimated seconds left (None before the first finished step or without a total)."""
        counted = self.done - (self._base or 0)
        if counted <= 0 or self.total is None:
            return None
        return self.elapsed() / counted * max(self.total - self.done, 0)

    def status(self) -> str:
        """``done/total unit · elapsed · about … left`` as shown."""
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        text = f"{count} {self.unit} · {format_duration(self.elapsed())} elapsed"
        left = self.left()
        if left is not None and self.done < (self.total or 0):
            text += f" · about {format_duration(left)} left"
        return text

    def _bar(self) -> str:
        if not self.total:
            return ""
        filled = int(round(BAR_WIDTH * self.done / self.total))
        return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "] "

    def _draw(self) -> None:
        line = self._bar() + self.status() + (f" · {self.current}" if self.current else "")
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def message(self, text: str) -> None:
        """What the job is doing now (e.g. ``fitting os_weibull × vague``)."""
        self.current = text
        if self.terminal:
            self._draw()
        else:
            self.stream.write(f"{text} ({self.status()})\n")
            self.stream.flush()

    def step(self, done: int, total: int, label: str = "") -> None:
        """``done`` of ``total`` steps finished; ``label`` names the last one."""
        if self._base is None:
            self._base = done - 1
        self.done, self.total = done, total
        if self.terminal:
            self.current = f"done {label}" if label else ""
            self._draw()
            if done >= total:
                self.close()
        else:
            finished = f" {label}" if label else ""
            self.stream.write(f"[{done}/{total}]{finished} done · {self.status()}\n")
            self.stream.flush()

    def close(self) -> None:
        """End the redrawn line (terminal mode) so that later output starts on a new line."""
        if self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
