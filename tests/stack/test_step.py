"""`python -m stack.step`: the Makefile's quiet install steps (one progress line, details in a log)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stack.procs import PYTHON, REPO_ROOT

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
