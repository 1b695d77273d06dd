"""The history of runs: a record per suite run, and `runs/index.html` over all.

    python -m cifarstudy.runindex            rebuild runs/index.html
    python -m cifarstudy.runindex --runs-dir /elsewhere/runs

The suite writes `run.json` into each run folder as it goes (preset, params,
each notebook's status, error line and files), so a run that failed or was
killed is recorded as such. The index lists every run folder under the runs
root, newest first: date, preset, seeds, key figures from `metrics.json` with
their change since the previous run of the same preset, status, and links.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import logging
import os
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import METRICS_FILE, write_json

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
INDEX_FILE = "index.html"
DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
# figures shown in the index: a metric whose name has one of these words
KEY_WORDS = {"accuracy", "agreement", "ece", "auroc"}
# parts of metrics.json that break a figure down or hold the run's settings
SKIPPED = {"per", "params", "provenance"}
FIGURES_OPEN = 8  # a notebook with more key figures shows them folded
DONE = ("passed", "failed", "interrupted")  # final states of a suite run


@dataclass
class IndexRow:
    """One run folder as the index shows it."""

    folder: Path  # relative to the runs root
    started_at: str
    preset: str
    seeds: str
    status: str
    notebooks: list[dict[str, Any]]  # name, status, error, ipynb, html
    figures: dict[str, float]  # "01_agreement: accuracy a" -> value
    deltas: dict[str, float] = field(default_factory=dict)


def write_run_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` as the run folder's `run.json`, atomically; return the path."""
    path = Path(run_dir) / RUN_FILE
    write_json(path, {"host": socket.gethostname(), "pid": os.getpid(), **record})
    return path


def key_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """Every number of `metrics.json` whose path names a KEY_WORD, however deeply
    nested: "notebook: path to it" -> value (per-class breakdowns left out)."""
    figures = {}
    for notebook in sorted(metrics):
        for path, number in _numbers(metrics[notebook]):
            words = {word for key in path for word in key.lower().split("_")}
            if words & KEY_WORDS and not words & SKIPPED:
                figures[f"{notebook}: {' '.join(path)}"] = number
    return figures


def _numbers(tree: dict[str, Any], path: tuple[str, ...] = ()):
    """(path, number) for each number in nested dicts; lists are left out."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _numbers(value, (*path, str(key)))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield (*path, str(key)), value


def read_row(runs_root: Path, folder: Path) -> IndexRow | None:
    """The index row of one run folder, or None when it holds no record yet."""
    record = _read_json(folder / RUN_FILE)
    metrics = _read_json(folder / METRICS_FILE)
    if not record and not metrics:
        return None
    entries = list(metrics.values())
    params = record.get("params") or (entries[0].get("params", {}) if entries else {})
    return IndexRow(
        folder=folder.relative_to(runs_root),
        started_at=record.get("started_at")
        or min(
            (e.get("provenance", {}).get("started_at", "") for e in entries), default=""
        ),
        preset=record.get("preset") or folder.name.split("-", 1)[-1],
        seeds=_seeds(params),
        status=_status(record, metrics),
        notebooks=record.get("notebooks") or _interactive_notebooks(folder, metrics),
        figures=key_figures(metrics),
    )


def collect(runs_root: Path) -> list[IndexRow]:
    """Every run under `runs_root`, newest first, each figure's change since the
    previous run of the same preset that has it filled in."""
    folders = [
        run
        for day in Path(runs_root).iterdir()
        if day.is_dir() and DAY_FOLDER.fullmatch(day.name)
        for run in day.iterdir()
        if run.is_dir()
    ]
    rows = [row for f in folders if (row := read_row(Path(runs_root), f))]
    rows.sort(key=lambda r: (r.started_at, str(r.folder)))
    last: dict[tuple[str, str], float] = {}
    for row in rows:  # oldest first
        for name, value in row.figures.items():
            if (row.preset, name) in last:
                row.deltas[name] = value - last[row.preset, name]
            last[row.preset, name] = value
    return rows[::-1]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("%s is unreadable (%s); left out of the index", path, error)
        return {}


def _seeds(params: dict[str, Any]) -> str:
    init, order = params.get("init_seeds"), params.get("order_seeds")
    if init is None:
        return ""
    return f"init {init}, order {order}"


def _status(record: dict[str, Any], metrics: dict[str, Any]) -> str:
    """passed, failed, interrupted, running, killed, or interactive."""
    if not record:
        return "interactive"
    status = record.get("status", "running")
    if status in DONE:
        return status
    alive = record.get("host") == socket.gethostname() and _pid_alive(record["pid"])
    return "running" if alive else "killed"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _interactive_notebooks(folder: Path, metrics: dict[str, Any]) -> list[dict]:
    return [
        {
            "notebook": name,
            "status": entry.get("status", "finished"),
            "error": "",
            "ipynb": f"{name}.ipynb" if (folder / f"{name}.ipynb").exists() else "",
            "html": f"{name}.html" if (folder / f"{name}.html").exists() else "",
        }
        for name, entry in sorted(metrics.items())
    ]


def render(rows: list[IndexRow], generated_at: str) -> str:
    """The index page: one table row per run, newest first."""
    body = "\n".join(_row_html(row) for row in rows)
    return PAGE.format(
        generated_at=html.escape(generated_at),
        count=len(rows),
        body=body or '<tr><td colspan="6">no runs yet</td></tr>',
    )


def _row_html(row: IndexRow) -> str:
    e = html.escape
    notebooks = dict.fromkeys(name.split(": ")[0] for name in row.figures)
    figures = "".join(_figures_html(row, notebook) for notebook in notebooks)
    links = "<br>".join(_notebook_html(row.folder, nb) for nb in row.notebooks)
    return (
        f'<tr class="{e(row.status)}"><td>{e(_when(row.started_at))}<br>'
        f"<small>{e(str(row.folder))}</small></td><td>{e(row.preset)}</td>"
        f"<td>{e(row.seeds)}</td><td>{figures}</td>"
        f"<td>{e(row.status)}</td><td>{links}</td></tr>"
    )


def _figures_html(row: IndexRow, notebook: str) -> str:
    """One notebook's figures, one a line, folded away when there are many."""
    e = html.escape
    lines = [
        f"{e(name.split(': ', 1)[1])} <b>{value:g}</b>"
        f"{_delta_html(row.deltas.get(name))}"
        for name, value in row.figures.items()
        if name.split(": ")[0] == notebook
    ]
    shown = " open" if len(lines) <= FIGURES_OPEN else ""
    return (
        f"<details{shown}><summary>{e(notebook)}: {len(lines)} figures</summary>"
        f"{'<br>'.join(lines)}</details>"
    )


def _when(started_at: str) -> str:
    """ "2026-01-02T03:04:05+00:00" -> "2026-01-02 03:04:05"."""
    return started_at[:19].replace("T", " ")


def _delta_html(delta: float | None) -> str:
    if delta is None:
        return ""
    return f' <span class="delta">({delta:+.2f})</span>'


def _notebook_html(folder: Path, notebook: dict[str, Any]) -> str:
    e = html.escape
    links = [
        f'<a href="{e((folder / notebook[kind]).as_posix())}">{kind}</a>'
        for kind in ("html", "ipynb")
        if notebook.get(kind)
    ]
    error = f'<br><small class="error">{e(notebook["error"])}</small>'
    return f"{e(notebook['notebook'])} ({e(notebook['status'])}) {' '.join(links)}" + (
        error if notebook.get("error") else ""
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cifarstudy runs</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 0.4em; vertical-align: top; }}
tr.failed, tr.killed, tr.interrupted {{ background: #fde8e8; }}
tr.running {{ background: #fff8e0; }}
.delta {{ color: #666; }} .error {{ color: #a00; }}
summary {{ cursor: pointer; }}
</style></head><body>
<h1>cifarstudy runs</h1>
<p>{count} runs, newest first; in brackets, the change of each figure since the
previous run of the same preset. Rebuilt {generated_at}.</p>
<table><tr><th>started</th><th>preset</th><th>seeds</th><th>figures</th>
<th>status</th><th>notebooks</th></tr>
{body}
</table></body></html>
"""


def rebuild(runs_root: Path) -> Path:
    """Rewrite `runs_root/index.html` from every run folder; return its path."""
    from .cache import write_atomic

    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    path = Path(runs_root) / INDEX_FILE
    write_atomic(path, render(collect(Path(runs_root)), now).encode())
    return path


def main(argv: list[str] | None = None) -> int:
    from .config import project_root

    parser = argparse.ArgumentParser(prog="python -m cifarstudy.runindex")
    parser.add_argument("--runs-dir", default=None, help="the runs root (runs/)")
    args = parser.parse_args(argv)
    runs_root = Path(args.runs_dir) if args.runs_dir else project_root() / "runs"
    runs_root.mkdir(parents=True, exist_ok=True)
    print(f"index: {rebuild(runs_root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
