"""Which model to serve: export it when `models/` has none, fall back to bundled weights when offline, and
remember that fallback so later runs neither retry the download nor repeat the explanation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import model_repository
from stack.config import StackSettings
from stack.procs import PYTHON, REPO_ROOT
from stack.progress import Say, log_tail, run_logged, say


class ExportFailedError(RuntimeError):
    pass


def ensure_model(
    model: str,
    models_dir: Path,
    *,
    log: Path,
    weights: str | None = None,
    note: str = "",
    speak: Say = say,
) -> Path:
    """`models_dir/model`, exporting its first version when it holds none (output in `log`).
    ExportFailedError when the export fails; the message names the log and quotes its end."""
    base = models_dir / model
    if model_repository.has_version(base):
        return base
    args = [PYTHON, "-m", "export_model", "--model", model, "--out", str(models_dir.resolve())]
    if weights:
        args += ["--weights", weights]
    about = f"{weights or 'default'} weights" + (f", {note}" if note else "")
    label = f"exporting {model} into {models_dir}/ ({about}; log: {log})"
    code = run_logged(args, log, label, speak, cwd=REPO_ROOT, report_failure=False)
    if code != 0 or not model_repository.has_version(base):
        raise ExportFailedError(f"export of {model} failed; see {log}:\n{log_tail(log, 10)}")
    return base


EXPORT_ERROR = "export_model: error: "
# what an export that could not download its weights says, and the words for a person
_OFFLINE = re.compile(
    r"Name or service not known|Temporary failure in name resolution|Network is unreachable|"
    r"No route to host|nodename nor servname|getaddrinfo failed|timed out|Connection refused"
)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^)\n]*")
REASON_CHARS = 72


def export_failure_reason(log: Path) -> str:
    """Why the last export in `log` failed, in a few words: "no network (…)" for a failed download, else
    export_model's own error line, shortened (it goes in the fallback banner)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    last_run = text.rsplit("\n$ ", 1)[-1]
    errors = [
        line.removeprefix(EXPORT_ERROR) for line in last_run.splitlines() if line.startswith(EXPORT_ERROR)
    ]
    lines = [line.strip() for line in last_run.splitlines()[1:] if line.strip()]
    error = errors[-1] if errors else (lines[-1] if lines else "no output; see the log")
    offline = _OFFLINE.search(error)
    if offline:
        detail = _ERRNO.search(error)
        why = detail.group(0) if detail else offline.group(0)
        return f"no network ({why})"
    error = error.split(". Two ways forward", 1)[0]
    return error if len(error) <= REASON_CHARS else "…" + error[-(REASON_CHARS - 1) :]  # the end says why


def banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    rule = "!" * width
    return "\n".join([rule, *(f"! {line.ljust(width - 4)} !" for line in lines), rule])


def _fallback_recorded(settings: StackSettings) -> bool:
    try:
        recorded: dict[str, Any] = json.loads(settings.fallback_marker.read_text())
    except (FileNotFoundError, ValueError):
        return False
    return recorded.get("wanted") == settings.model and recorded.get("served") == settings.fallback_model


def _record_fallback(settings: StackSettings, reason: str) -> None:
    settings.fallback_marker.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "wanted": settings.model,
        "served": settings.fallback_model,
        "why": f"the export of {settings.model} failed: {reason}; see {settings.log_dir / 'export.log'}",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "retry": "make run RETRY_RESNET50=1 (or delete this file)",
    }
    settings.fallback_marker.write_text(json.dumps(record, indent=2) + "\n")


def served_model(settings: StackSettings) -> str:
    """The model `make run` serves when nothing is exported or retried: the wanted one, or the recorded
    fallback."""
    if model_repository.has_version(settings.models_dir / settings.model):
        return settings.model
    return settings.fallback_model if _fallback_recorded(settings) else settings.model


def choose_model(settings: StackSettings, speak: Say = say) -> str:
    """The name of the model to serve, exported if needed (see the module docstring)."""
    wanted, fallback = settings.model, settings.fallback_model
    export_log = settings.log_dir / "export.log"
    if model_repository.has_version(settings.models_dir / wanted):
        settings.fallback_marker.unlink(missing_ok=True)
        return wanted
    weights = None
    if wanted == "resnet50":
        weights = str(settings.resnet50_weights) if settings.resnet50_weights else "imagenet"
    retry = settings.retry_export or settings.resnet50_weights is not None
    if wanted != fallback and _fallback_recorded(settings) and not retry:
        speak(
            f"serving {fallback}: {wanted} could not be exported earlier "
            f"(`make run RETRY_RESNET50=1` tries again; see README, Which model answers)"
        )
    else:
        try:
            base = ensure_model(wanted, settings.models_dir, log=export_log, weights=weights, speak=speak)
        except ExportFailedError:
            if wanted == fallback:
                raise
        else:
            settings.fallback_marker.unlink(missing_ok=True)
            return base.name
        reason = export_failure_reason(export_log)
        speak(
            banner(
                [
                    f"Could not export {wanted} ({weights or 'default'} weights): {reason}.",
                    f"Details: {export_log}",
                    f"Serving {fallback} instead: its real ImageNet weights ship in a Python package.",
                    "For ResNet50 offline: RESNET50_WEIGHTS=/path/to/resnet50_weights.h5 make run",
                    "Later runs serve it without retrying; `make run RETRY_RESNET50=1` tries again.",
                ]
            )
        )
        _record_fallback(settings, reason)
    ensure_model(
        fallback, settings.models_dir, log=export_log, note="bundled with a Python package", speak=speak
    )
    return fallback
