"""`python -m stack.step`: the Makefile's quiet install steps (one progress line, details in a log)."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

from stack.procs import PYTHON, REPO_ROOT
from stack.progress import ticking

NOISY = (
    "import sys\nfor i in range(200): print(f'WARNING: pip noise {i}')\nprint('the end', file=sys.stderr)\n"
)


def step(log: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "stack.step", "--log", str(log), "--label", "installing things", "--", *command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_step_shows_one_line_and_logs_everything(tmp_path: Path) -> None:
    log = tmp_path / "var" / "log" / "install.log"
    done = step(log, PYTHON, "-c", NOISY)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["installing things …"]
    assert done.stderr == ""
    text = log.read_text()
    assert "WARNING: pip noise 199" in text
    assert "the end" in text


def test_a_failing_step_names_its_log_and_quotes_its_end(tmp_path: Path) -> None:
    log = tmp_path / "install.log"
    done = step(log, PYTHON, "-c", NOISY + "raise SystemExit(4)")
    assert done.returncode == 4
    lines = done.stdout.splitlines()
    assert lines[1] == f"error: installing things failed (exit code 4); the details are in {log}:"
    assert lines[-1] == "the end"
    assert len(lines) < 20


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_elapsed_time_ticks_on_one_line_then_is_cleared() -> None:
    terminal = Terminal()
    with ticking("  exporting tiny", terminal):
        time.sleep(1.5)
    written = terminal.getvalue()
    assert "\r\033[K  exporting tiny … 1s" in written
    assert "\n" not in written  # the same line, rewritten
    assert written.endswith("\r\033[K")


def test_in_a_log_nothing_ticks() -> None:
    log = io.StringIO()
    with ticking("  exporting tiny", log):
        time.sleep(1.5)
    assert log.getvalue() == ""
