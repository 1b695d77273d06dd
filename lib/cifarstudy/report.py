"""Run folders, provenance and the machine-readable metrics of a report.

Every executed notebook lands in a dated run folder, never an existing one,
and adds its figures, parameters, provenance and wall time under its own name
to the folder's `metrics.json`. An executed notebook is also rendered to HTML
beside it, for reading in a browser.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import cache, data
from .config import StudyConfig, describe_choice, device_name, project_root

METRICS_FILE = "metrics.json"
PENDING = (
    "**Data and wall time** are filled in here when this run finishes; "
    "if this line remains, the run did not finish."
)


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
    """The checkout's commit and whether it had changes (untracked files too)."""

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain"))
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


def determinism() -> dict[str, Any]:
    """The settings that decide whether a rerun gives bitwise the same weights."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "torch_threads": torch.get_num_threads(),
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
    data_mark: int = 0  # splits loaded in this process before the run started
    summary: Any = field(default=None, repr=False)  # notebook display of data, time

    @classmethod
    def start(cls, notebook: str, config: StudyConfig, device: torch.device) -> Run:
        if config.run_dir:
            run_dir = config.path("run_dir")
            run_dir.mkdir(parents=True, exist_ok=True)
        else:  # opened interactively: a dated folder of its own
            run_dir = new_run_dir(project_root() / "runs", "interactive")
        started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        mark = len(data.loaded_sets())
        return cls(notebook, config, device, run_dir, started_at, data_mark=mark)

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    def datasets(self) -> list[dict[str, Any]]:
        """Identity of each split loaded since the run started, one per name."""
        by_name = {d["name"]: d for d in data.loaded_sets()[self.data_mark :]}
        return list(by_name.values())

    def provenance(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "device": self.device.type,
            "device_requested": self.config.device,
            "device_name": device_name(self.device),
            "versions": versions(),
            "git": git_revision(project_root()),
            "determinism": determinism(),
            "datasets": self.datasets(),
        }

    def provenance_markdown(self) -> str:
        """The provenance as a Markdown table to show near the top of a notebook.

        In a notebook this also shows a line above it that `finish` replaces by
        the data read (split, images, sha256) and the wall time.
        """
        prov = self.provenance()
        choice = describe_choice(prov["device_requested"], prov["device"])
        flags = prov["determinism"]
        rows = [
            ("run folder", f"`{self.run_dir}`"),
            ("started", prov["started_at"]),
            ("device", f"{choice} ({prov['device_name']})"),
            ("versions", ", ".join(f"{k} {v}" for k, v in prov["versions"].items())),
            (
                "git",
                f"{prov['git']['revision'][:12]}"
                + (" (uncommitted changes)" if prov["git"]["dirty"] else ""),
            ),
            ("determinism", ", ".join(f"{k} {v!r}" for k, v in flags.items())),
            (
                "parameters",
                ", ".join(f"{k}={v}" for k, v in self.config.as_dict().items()),
            ),
        ]
        if self.summary is None:
            self.summary = _notebook_display(PENDING)
        return markdown_table(rows)

    def finish(self, figures: dict[str, Any]) -> Path:
        """Record `figures`, parameters, provenance and wall time; return the file."""
        entry = {
            **figures,
            "status": "finished",
            "params": self.config.as_dict(),
            "provenance": self.provenance(),
            "wall_seconds": round(self.wall_seconds, 2),
        }
        path = record_metrics(self.run_dir, self.notebook, entry)
        if self.summary is not None:
            self.summary.update(_markdown(self.summary_markdown(entry)))
        return path

    def summary_markdown(self, entry: dict[str, Any]) -> str:
        """The data read and the wall time of a finished run, as a Markdown table."""
        rows = [
            (
                "data",
                "<br>".join(
                    f"{d['name']}: {d['split']} split, {d['images']} images, "
                    f"{d['classes']} classes, sha256 `{d['sha256'][:16]}`, "
                    f"source: {d['source']}"
                    for d in entry["provenance"]["datasets"]
                )
                or "none loaded through cifarstudy.data",
            ),
            ("wall time", f"{entry['wall_seconds']:.1f} s"),
            ("metrics", f"`{Path(self.run_dir) / METRICS_FILE}`"),
        ]
        return markdown_table(rows)


def markdown_table(rows: list[tuple[str, str]]) -> str:
    """Two-column Markdown table without a header row, one (name, value) per row."""
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def _notebook_display(text: str):
    """Show `text` as Markdown in a running notebook; return its handle, or None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None  # a plain interpreter or terminal IPython: nothing to update
    return display(_markdown(text), display_id=True)


def render_html(notebook: Path, with_code: bool = False) -> Path:
    """Render an executed notebook to HTML beside it, images embedded; the path.

    Code cells are left out unless `with_code`; outputs, errors included, stay.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=not with_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_filename(str(notebook))
    target = Path(notebook).with_suffix(".html")
    cache.write_atomic(target, body.encode())
    return target


def record_metrics(run_dir: Path, notebook: str, entry: dict[str, Any]) -> Path:
    """Set `metrics.json[notebook] = entry` in `run_dir`, rewriting it atomically."""
    path = Path(run_dir) / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[notebook] = entry
    write_json(path, metrics)
    return path


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON to `path` through a temporary file and a rename."""
    text = json.dumps(obj, indent=2, default=_jsonable)
    cache.write_atomic(Path(path), text.encode())


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
