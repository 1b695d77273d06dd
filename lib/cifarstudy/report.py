"""Run folders, provenance and the machine-readable metrics of a report.

Every executed notebook lands in a dated run folder, never an existing one,
and adds its figures, parameters, provenance and wall time under its own name
to the folder's `metrics.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import StudyConfig, device_name, project_root

METRICS_FILE = "metrics.json"


def new_run_dir(
    runs_root: str | Path, label: str, now: dt.datetime | None = None
) -> Path:
    """Create and return `runs_root/YYYY-MM-DD/HHMMSS-label`, never an existing one."""
    now = now or dt.datetime.now()
    day = Path(runs_root) / now.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    stem = f"{now.strftime('%H%M%S')}-{label}"
    for attempt in range(1, 1000):
        candidate = day / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()  # atomic: two runs never get the same folder
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder for {stem} under {day}")


def git_revision(root: Path) -> dict[str, Any]:
    """The checkout's commit and whether it had uncommitted changes."""

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        revision, dirty = "", False
    return {"revision": revision or "unknown", "dirty": dirty}


def versions() -> dict[str, str]:
    import torchvision

    from . import __version__

    return {
        "cifarstudy": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda or "none",
        "numpy": __import__("numpy").__version__,
    }


@dataclass
class Run:
    """One notebook's execution: where it reports, and what it ran with."""

    notebook: str
    config: StudyConfig
    device: torch.device
    run_dir: Path
    started_at: str
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, notebook: str, config: StudyConfig, device: torch.device) -> Run:
        if config.run_dir:
            run_dir = config.path("run_dir")
            run_dir.mkdir(parents=True, exist_ok=True)
        else:  # opened interactively: a dated folder of its own
            run_dir = new_run_dir(project_root() / "runs", "interactive")
        started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        return cls(notebook, config, device, run_dir, started_at)

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    def provenance(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "device": self.device.type,
            "device_name": device_name(self.device),
            "versions": versions(),
            "git": git_revision(project_root()),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        }

    def provenance_markdown(self) -> str:
        prov = self.provenance()
        rows = [
            ("run folder", f"`{self.run_dir}`"),
            ("started", prov["started_at"]),
            ("device", f"{prov['device']} ({prov['device_name']})"),
            ("versions", ", ".join(f"{k} {v}" for k, v in prov["versions"].items())),
            (
                "git",
                f"{prov['git']['revision'][:12]}"
                + (" (uncommitted changes)" if prov["git"]["dirty"] else ""),
            ),
            (
                "parameters",
                ", ".join(f"{k}={v}" for k, v in self.config.as_dict().items()),
            ),
        ]
        return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)

    def finish(self, figures: dict[str, Any]) -> Path:
        """Record `figures`, parameters, provenance and wall time; return the file."""
        entry = {
            **figures,
            "params": self.config.as_dict(),
            "provenance": self.provenance(),
            "wall_seconds": round(self.wall_seconds, 2),
        }
        return record_metrics(self.run_dir, self.notebook, entry)


def record_metrics(run_dir: Path, notebook: str, entry: dict[str, Any]) -> Path:
    """Set `metrics.json[notebook] = entry` in `run_dir`, rewriting it atomically."""
    path = Path(run_dir) / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[notebook] = entry
    fd, tmp = tempfile.mkstemp(dir=run_dir, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(metrics, f, indent=2, default=_jsonable)
    os.replace(tmp, path)
    return path


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def percent(fraction: float, digits: int = 2) -> float:
    """A fraction as a percentage, rounded for reports."""
    return round(100.0 * fraction, digits)
