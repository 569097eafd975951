"""Progress for slow steps, kept to a few lines: the elapsed time ticks on one terminal line while a step
runs; in a log or a pipe only the step's first line (and, if it was slow, its last) is written.

Standard library only: the Makefile runs it before anything is installed.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

Say = Callable[[str], None]
SLOW = 5.0  # seconds: a step that took longer says when it finished


def say(line: str) -> None:
    print(line, flush=True)


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def log_tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@contextlib.contextmanager
def ticking(label: str, stream: TextIO | None = None) -> Iterator[Callable[[], float]]:
    """While the block runs, `label … 12s` is rewritten every second on a terminal (nothing otherwise);
    the line is cleared at the end. Yields a function returning the seconds elapsed."""
    out = stream or sys.stdout
    started = time.monotonic()
    stop = threading.Event()
    tty = out.isatty()

    def tick() -> None:
        while not stop.wait(1.0):
            out.write(f"\r\033[K{label} … {duration(time.monotonic() - started)}")
            out.flush()

    thread = threading.Thread(target=tick, daemon=True) if tty else None
    if thread:
        thread.start()
    try:
        yield lambda: time.monotonic() - started
    finally:
        stop.set()
        if thread:
            thread.join()
            out.write("\r\033[K")
            out.flush()


def run_logged(
    args: Sequence[str],
    log: Path,
    label: str,
    speak: Say = say,
    cwd: Path | None = None,
    report_failure: bool = True,
) -> int:
    """Run `args` with its output appended to `log`, showing `label` and the time it takes; on failure
    (unless the caller reports it) say so, naming the log and quoting its end. Returns the exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    speak(f"{label} …")
    with log.open("ab") as out, ticking(f"  {label.split(' (')[0]}") as elapsed:
        out.write(f"\n$ {shlex.join(args)}\n".encode())
        out.flush()
        code = subprocess.run(
            list(args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, check=False
        ).returncode
    if code != 0:
        if report_failure:
            speak(f"error: {label} failed (exit code {code}); the details are in {log}:\n{log_tail(log)}")
    elif elapsed() >= SLOW:
        speak(f"  done in {duration(elapsed())}")
    return code
