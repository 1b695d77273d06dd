"""A suite run whose notebooks fail, get interrupted or run side by side: the
failed copy is kept, the others still run, the exit status says so, and no
cache entry is ever left half-written.

The notebooks here are small fixtures written into a temporary notebooks
folder; they take the study's parameters cell from notebook 01.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from cifarstudy import cache, runindex

ROOT = Path(__file__).resolve().parents[1]
FAST = "epochs=1 batch_size=100"  # a few seconds of training on the smoke data

SETUP = """\
from cifarstudy import config, data, report, train
cfg = config.StudyConfig.from_namespace(globals())
device = config.resolve_device(cfg.device)
run = report.Run.start(NAME, cfg, device)"""
TRAIN = """\
train_set = data.load(cfg.dataset, "train", cfg.path("data_root"))
nets = train.train_or_load(
    cfg.net_specs, train_set, cfg.train_settings, device, cfg.path("cache_dir")
)"""
FINISH = 'run.finish({"agreement": 100.0, "weights": [n.key for n in nets]})'
PID = """\
import os, pathlib
pathlib.Path(cfg.run_dir, "kernel.pid").write_text(str(os.getpid()))"""
LONG_TRAINING = """\
print("training for long enough to be interrupted")
train.train_or_load(
    cfg.net_specs, train_set, cfg.replace(epochs=500).train_settings,
    device, cfg.path("cache_dir"), log_every=10**9,
)"""
FAILURE = 'raise RuntimeError("deliberate failure in the middle of the suite")'


def write_notebook(folder: Path, name: str, *cells: str) -> None:
    """A notebook `name` with the study's parameters cell, then `cells`."""
    study = nbformat.read(ROOT / "notebooks" / "01_agreement.ipynb", as_version=4)
    (parameters,) = [
        c for c in study.cells if "parameters" in c.metadata.get("tags", [])
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [parameters] + [
        nbformat.v4.new_code_cell(source.replace("NAME", repr(name)))
        for source in cells
    ]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell{index}"
    nbformat.write(nb, folder / f"{name}.ipynb")


def start_suite(notebooks: Path, runs: Path, cache_dir: Path, log: Path):
    """The suite as `make report` starts it, its output going to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cifarstudy.suite", "--preset", "smoke"]
            + ["--notebooks", str(notebooks), "--runs-dir", str(runs)]
            + ["--set", f"cache_dir={cache_dir} {FAST}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def summary_lines(log: Path, folder: Path) -> list[str]:
    """The suite's closing summary: from `report: folder` to `index: ...`."""
    text = log.read_text()
    lines = text[text.rindex(f"report: {folder}") :].splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("index: "))
    return lines[: end + 1]


def run_folders(runs: Path) -> list[Path]:
    return sorted(p for p in runs.glob("*/*") if p.is_dir())


def outputs_text(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    return json.dumps([c.get("outputs", []) for c in cells])


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    notebooks = tmp_path_factory.mktemp("notebooks")
    write_notebook(notebooks, "01_train", SETUP, TRAIN, FINISH)
    write_notebook(notebooks, "02_fails", 'print("before the failure")', FAILURE, "1")
    write_notebook(notebooks, "03_after", SETUP, TRAIN, FINISH)
    runs = tmp_path_factory.mktemp("runs")
    log = runs.parent / "suite.log"
    suite = start_suite(notebooks, runs, tmp_path_factory.mktemp("cache"), log)
    suite.wait(timeout=600)
    (folder,) = run_folders(runs)
    return suite.returncode, summary_lines(log, folder), folder


def test_a_failed_notebook_makes_the_exit_status_non_zero(failed_run):
    code, _, _ = failed_run
    assert code == 1


def test_the_failed_copy_is_kept_with_its_error(failed_run):
    _, _, folder = failed_run
    text = outputs_text(folder / "02_fails.ipynb")
    assert "before the failure" in text
    assert "deliberate failure in the middle of the suite" in text
    html = (folder / "02_fails.html").read_text()
    assert "RuntimeError" in html and "deliberate failure" in html


def test_the_notebooks_after_the_failure_still_run(failed_run):
    _, _, folder = failed_run
    metrics = json.loads((folder / "metrics.json").read_text())
    assert sorted(metrics) == ["01_train", "03_after"]
    assert metrics["03_after"]["status"] == "finished"
    assert metrics["03_after"]["weights"] == metrics["01_train"]["weights"]


def test_the_summary_names_passed_failed_copy_and_error_line(failed_run):
    _, summary, folder = failed_run
    assert summary[0] == f"report: {folder}"
    assert summary[1].split()[:2] == ["passed", "01_train"]
    assert summary[3].split()[:2] == ["failed", "02_fails"]
    assert summary[4] == f"      failed copy: {folder / '02_fails.ipynb'}"
    assert summary[5] == (
        "      RuntimeError: deliberate failure in the middle of the suite"
    )
    assert summary[7].split()[:2] == ["passed", "03_after"]
    assert summary[9] == "2 passed, 1 failed"
    assert summary[10] == f"index: {folder.parents[1] / 'index.html'}"


def test_run_record_and_index_show_the_failure(failed_run):
    _, _, folder = failed_run
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "failed"
    assert [(n["notebook"], n["status"]) for n in record["notebooks"]] == [
        ("01_train", "passed"),
        ("02_fails", "failed"),
        ("03_after", "passed"),
    ]
    assert record["notebooks"][1]["error"] == (
        "RuntimeError: deliberate failure in the middle of the suite"
    )
    (row,) = runindex.collect(folder.parents[1])
    assert (row.status, row.preset) == ("failed", "smoke")
    assert row.figures == {"01_train: agreement": 100.0, "03_after: agreement": 100.0}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_run_stopped_during_training_leaves_no_partial_cache(tmp_path, signum):
    notebooks, runs, cache_dir = tmp_path / "nb", tmp_path / "runs", tmp_path / "cache"
    notebooks.mkdir()
    write_notebook(notebooks, "01_train", SETUP, TRAIN, FINISH)
    write_notebook(notebooks, "02_long", SETUP, TRAIN, PID, LONG_TRAINING)
    write_notebook(notebooks, "03_after", SETUP, TRAIN, FINISH)
    log = tmp_path / "suite.log"
    suite = start_suite(notebooks, runs, cache_dir, log)
    pid_file = None
    for _ in range(600):  # until notebook 02's kernel is training
        pid_file = next(runs.glob("*/*/kernel.pid"), None)
        if pid_file or suite.poll() is not None:
            break
        time.sleep(0.5)
    assert pid_file, log.read_text()
    time.sleep(2)
    suite.send_signal(signum)
    suite.wait(timeout=120)

    assert suite.returncode == 128 + signum
    folder = pid_file.parent
    summary = summary_lines(log, folder)
    assert summary[3].split()[:2] == ["interrupted", "02_long"]
    assert summary[4] == f"      interrupted copy: {folder / '02_long.ipynb'}"
    assert summary[5] == f"      interrupted by {signal.Signals(signum).name}"
    assert summary[7].split()[:2] == ["not", "run"]
    assert summary[8] == "1 passed, 0 failed, 1 interrupted, 1 not run"
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert (folder / "02_long.ipynb").is_file()
    # the kernel is gone, and only the two finished nets of 01 are in the cache
    kernel = int(pid_file.read_text())
    for _ in range(20):
        if not runindex._pid_alive(kernel):
            break
        time.sleep(0.5)
    assert not runindex._pid_alive(kernel)
    entries = sorted(p.name for p in cache_dir.rglob("*") if p.is_file())
    weights = json.loads((folder / "metrics.json").read_text())["01_train"]["weights"]
    assert entries == sorted(f"{key}.pt" for key in weights)
    (row,) = runindex.collect(runs)
    assert row.status == "interrupted"


def test_two_runs_started_together_get_their_own_folders_and_whole_caches(tmp_path):
    notebooks, runs, cache_dir = tmp_path / "nb", tmp_path / "runs", tmp_path / "cache"
    notebooks.mkdir()
    write_notebook(notebooks, "01_train", SETUP, TRAIN, FINISH)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    suites = [start_suite(notebooks, runs, cache_dir, log) for log in logs]
    codes = [s.wait(timeout=600) for s in suites]

    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    first, second = run_folders(runs)
    assert first != second
    keys = [
        json.loads((f / "metrics.json").read_text())["01_train"]["weights"]
        for f in (first, second)
    ]
    assert keys[0] == keys[1]
    for key in keys[0]:
        assert cache.load(cache.entry_path(cache_dir, "weights", key)) is not None
    assert sorted(p.name for p in (cache_dir / "weights").iterdir()) == sorted(
        f"{key}.pt" for key in keys[0]
    )
    assert {row.status for row in runindex.collect(runs)} == {"passed"}
    assert os.path.isfile(runs / "index.html")
