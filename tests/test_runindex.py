"""The history of runs: runs/index.html from run folders written here by hand,
and from one real suite run of notebook 01 on the smoke preset, whose HTML copy
and provenance are checked too."""

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from cifarstudy import data, report, runindex, suite
from cifarstudy.report import write_json


def write_run(runs: Path, folder: str, record: dict | None, metrics: dict) -> Path:
    """A run folder as the suite leaves it: `run.json` (if any) and metrics."""
    path = runs / folder
    path.mkdir(parents=True)
    if record is not None:
        write_json(path / "run.json", record)
    if metrics:
        write_json(path / "metrics.json", metrics)
    for name in metrics:
        (path / f"{name}.ipynb").write_text("{}")
        (path / f"{name}.html").write_text("<html></html>")
    return path


def record(preset, started_at, status, notebooks, pid=0):
    return {
        "preset": preset,
        "params": {"init_seeds": [0, 1], "order_seeds": [2, 3]},
        "started_at": started_at,
        "status": status,
        "host": runindex.socket.gethostname(),
        "pid": pid,
        "notebooks": [
            {
                "notebook": name,
                "status": state,
                "error": "ValueError: boom" if state == "failed" else "",
                "ipynb": f"{name}.ipynb",
                "html": f"{name}.html",
            }
            for name, state in notebooks
        ],
    }


def agreement_figures(a, b, agreement):
    return {
        "accuracy": {"a": a, "b": b},
        "agreement": agreement,
        "disagreement": 100 - agreement,
        "agreement_matrix": [[100.0, agreement], [agreement, 100.0]],
        "from_cache": {"a": True, "b": True},
        "params": {"init_seeds": [0, 1], "order_seeds": [2, 3]},
    }


@pytest.fixture
def runs(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    passed = [("01_agreement", "passed"), ("02_confidence", "passed")]
    write_run(
        tmp_path,
        "2026-01-01/100000-smoke",
        record("smoke", "2026-01-01T10:00:00+00:00", "passed", passed),
        {
            "01_agreement": agreement_figures(50.0, 52.0, 80.0),
            "02_confidence": {"ece": {"a": 3.5, "b": 4.0}, "mean_ece": 3.75},
        },
    )
    write_run(
        tmp_path,
        "2026-01-02/090000-default",
        record("default", "2026-01-02T09:00:00+00:00", "passed", passed[:1]),
        {"01_agreement": agreement_figures(60.0, 61.0, 85.0)},
    )
    failed = [("01_agreement", "passed"), ("02_confidence", "failed")]
    write_run(
        tmp_path,
        "2026-01-03/110000-smoke",
        record("smoke", "2026-01-03T11:00:00+00:00", "failed", failed),
        {"01_agreement": agreement_figures(51.5, 51.0, 81.25)},
    )
    running = [("01_agreement", "running")]
    write_run(
        tmp_path,
        "2026-01-04/120000-smoke",
        record("smoke", "2026-01-04T12:00:00+00:00", "running", running, dead.pid),
        {},
    )
    interactive = agreement_figures(40.0, 41.0, 70.0)
    interactive["provenance"] = {"started_at": "2026-01-05T13:00:00+00:00"}
    write_run(tmp_path, "2026-01-05/130000-interactive", None, {"01_nb": interactive})
    (tmp_path / "cache" / "weights").mkdir(parents=True)  # not a run
    return tmp_path


def test_runs_are_listed_newest_first_with_their_status(runs):
    rows = runindex.collect(runs)
    assert [(str(r.folder), r.preset, r.status) for r in rows] == [
        ("2026-01-05/130000-interactive", "interactive", "interactive"),
        ("2026-01-04/120000-smoke", "smoke", "killed"),
        ("2026-01-03/110000-smoke", "smoke", "failed"),
        ("2026-01-02/090000-default", "default", "passed"),
        ("2026-01-01/100000-smoke", "smoke", "passed"),
    ]
    assert rows[2].seeds == "init [0, 1], order [2, 3]"


def test_key_figures_are_accuracy_agreement_ece_and_auroc_at_any_depth():
    metrics = {
        "01_agreement": agreement_figures(50.0, 52.0, 80.0),
        "02_confidence": {
            "nets": {
                "a": {
                    "accuracy": 70.0,
                    "ece": 3.5,
                    "nll": 0.7,
                    "per_class_accuracy": {"cat": 50.0, "dog": 90.0},
                }
            }
        },
        "03_ood": {"auroc": {"max_prob": 0.75}, "auroc_noise": 0.5, "loss": 1.0},
    }
    assert runindex.key_figures(metrics) == {
        "01_agreement: accuracy a": 50.0,
        "01_agreement: accuracy b": 52.0,
        "01_agreement: agreement": 80.0,
        "02_confidence: nets a accuracy": 70.0,
        "02_confidence: nets a ece": 3.5,
        "03_ood: auroc max_prob": 0.75,
        "03_ood: auroc_noise": 0.5,
    }


def test_each_figure_changes_against_the_previous_run_of_its_preset(runs):
    rows = {str(r.folder): r for r in runindex.collect(runs)}
    assert rows["2026-01-03/110000-smoke"].deltas == {
        "01_agreement: accuracy a": 1.5,
        "01_agreement: accuracy b": -1.0,
        "01_agreement: agreement": 1.25,
    }
    assert rows["2026-01-02/090000-default"].deltas == {}  # first of its preset
    assert rows["2026-01-01/100000-smoke"].figures["02_confidence: ece a"] == 3.5
    assert rows["2026-01-01/100000-smoke"].figures["02_confidence: mean_ece"] == 3.75


def test_the_page_links_every_notebook_and_shows_changes(runs):
    assert runindex.main(["--runs-dir", str(runs)]) == 0
    page = (runs / "index.html").read_text()
    order = [
        page.index(f) for f in ("130000-interactive", "120000-smoke", "110000-smoke")
    ]
    assert order == sorted(order)
    assert '<a href="2026-01-03/110000-smoke/01_agreement.html">html</a>' in page
    assert '<a href="2026-01-03/110000-smoke/02_confidence.ipynb">ipynb</a>' in page
    assert "<details open><summary>01_agreement: 3 figures</summary>" in page
    assert "accuracy a <b>51.5</b> <span" in page
    assert '<span class="delta">(+1.50)</span>' in page
    assert '<span class="delta">(-1.00)</span>' in page
    assert "ValueError: boom" in page
    assert '<tr class="killed"><td>2026-01-04 12:00:00' in page
    assert "5 runs, newest first" in page


def test_many_figures_of_one_notebook_are_folded():
    row = runindex.IndexRow(
        Path("d/r"),
        "",
        "smoke",
        "",
        "passed",
        [],
        {f"03_ood: auroc {i}": i for i in range(9)},
    )
    assert runindex._figures_html(row, "03_ood").startswith(
        "<details><summary>03_ood: 9 figures</summary>auroc 0 <b>0</b><br>"
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cache_dir = tmp_path_factory.mktemp("cache")
    code = suite.main(
        ["--preset", "smoke", "--only", "01", "--runs-dir", str(runs)]
        + ["--set", f"cache_dir={cache_dir} epochs=1 batch_size=100"]
    )
    (folder,) = [p for p in runs.glob("*/*") if p.is_dir()]
    metrics = json.loads((folder / "metrics.json").read_text())["01_agreement"]
    return code, runs, folder, metrics


def test_the_index_lists_the_real_run_with_its_figures(smoke_run):
    code, runs, folder, metrics = smoke_run
    assert code == 0
    (row,) = runindex.collect(runs)
    assert (row.preset, row.status, row.folder) == (
        "smoke",
        "passed",
        folder.relative_to(runs),
    )
    assert row.figures == {
        "01_agreement: accuracy a": metrics["accuracy"]["a"],
        "01_agreement: accuracy b": metrics["accuracy"]["b"],
        "01_agreement: agreement": metrics["agreement"],
    }
    page = (runs / "index.html").read_text()
    assert f'href="{folder.relative_to(runs).as_posix()}/01_agreement.html"' in page


def test_metrics_record_the_whole_provenance(smoke_run):
    _, _, _, metrics = smoke_run
    provenance = metrics["provenance"]
    assert set(provenance["versions"]) == {
        "cifarstudy",
        "python",
        "torch",
        "torchvision",
        "cuda",
        "numpy",
    }
    assert re.fullmatch(r"[0-9a-f]{40}", provenance["git"]["revision"])
    assert isinstance(provenance["git"]["dirty"], bool)
    assert provenance["device"] == "cpu"
    assert provenance["device_name"].startswith("CPU ")
    assert set(provenance["determinism"]) == {
        "deterministic_algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "cublas_workspace_config",
        "torch_threads",
    }
    assert provenance["datasets"] == [
        {
            "name": f"synthetic-{split}",
            "split": split,
            "images": {"train": 4000, "test": 1000}[split],
            "classes": 10,
            "sha256": data.synthetic(split).checksum,
            "source": "generated",
        }
        for split in ("train", "test")
    ]
    assert metrics["status"] == "finished"
    assert metrics["params"]["epochs"] == 1 and metrics["wall_seconds"] > 0


def test_the_notebook_shows_data_identity_and_provenance_near_the_top(smoke_run):
    _, _, folder, metrics = smoke_run
    cells = nbformat.read(folder / "01_agreement.ipynb", as_version=4).cells
    shown = [
        out["data"]["text/markdown"]
        for cell in cells[:6]
        if cell.cell_type == "code"
        for out in cell.outputs
        if "text/markdown" in out.get("data", {})
    ]
    summary, table = shown[:2]
    train_sha = data.synthetic("train").checksum[:16]
    assert (
        f"| data | synthetic-train: train split, 4000 images, 10 classes, "
        f"sha256 `{train_sha}`, source: generated<br>synthetic-test:" in summary
    )
    assert f"| wall time | {metrics['wall_seconds']:.1f} s |" in summary
    for row in ("run folder", "started", "device", "versions", "git", "determinism"):
        assert f"| {row} |" in table
    assert "| device | cpu (CPU " in table
    assert "epochs=1, batch_size=100" in table


def test_the_html_copy_hides_code_and_embeds_images(smoke_run):
    _, _, folder, _ = smoke_run
    page = (folder / "01_agreement.html").read_text()
    assert "Do two identically trained nets agree?" in page
    assert "config.StudyConfig.from_namespace" not in page  # code left out
    assert page.count('src="data:image/png;base64,') == 2  # both figures, inline
    assert "sha256" in page and "agreement:" in page


def test_git_revision_says_whether_the_tree_had_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    clean = report.git_revision(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean["revision"]) and not clean["dirty"]
    (tmp_path / "new.ipynb").write_text("{}")  # untracked
    assert report.git_revision(tmp_path)["dirty"]
