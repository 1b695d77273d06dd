"""Notebook 01 executed for real by papermill through the suite, twice."""

import json
import re

import nbformat
import pytest

from cifarstudy import suite


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    args = [
        "--preset",
        "smoke",
        "--only",
        "01",
        "--runs-dir",
        str(runs),
        "--set",
        f"cache_dir={cache}",
    ]
    codes = [suite.main(args), suite.main(args)]
    folders = sorted(p for p in runs.glob("*/*") if p.is_dir())
    return codes, folders


def test_each_report_lands_in_a_new_dated_folder(two_runs):
    codes, folders = two_runs
    assert codes == [0, 0]
    assert len(folders) == 2
    for folder in folders:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder.parent.name)
        assert re.fullmatch(r"\d{6}-smoke(-\d+)?", folder.name)
        assert (folder / "01_agreement.ipynb").is_file()


def test_metrics_record_accuracy_agreement_params_and_wall_time(two_runs):
    _, folders = two_runs
    figures = json.loads((folders[0] / "metrics.json").read_text())["01_agreement"]

    accuracy = figures["accuracy"]
    assert set(accuracy) == {"a", "b"}
    assert all(30.0 < value <= 100.0 for value in accuracy.values())  # chance is 10%
    assert figures["agreement"] + figures["disagreement"] == pytest.approx(100.0)
    assert figures["agreement_matrix"][0][1] == figures["agreement"]
    assert sum(figures["pair_outcomes"].values()) == pytest.approx(100.0, abs=0.02)
    assert figures["params"]["dataset"] == "synthetic"
    assert figures["params"]["epochs"] == 2
    assert figures["wall_seconds"] > 0


def test_second_run_reuses_the_cached_weights_and_says_so(two_runs):
    _, (first, second) = two_runs
    before = json.loads((first / "metrics.json").read_text())["01_agreement"]
    after = json.loads((second / "metrics.json").read_text())["01_agreement"]
    assert before["from_cache"] == {"a": False, "b": False}
    assert after["from_cache"] == {"a": True, "b": True}
    assert after["accuracy"] == before["accuracy"]
    assert after["agreement"] == before["agreement"]

    notebook = nbformat.read(second / "01_agreement.ipynb", as_version=4)
    printed = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "a: loaded cached weights" in printed
    assert "b: loaded cached weights" in printed


def test_executed_notebook_has_no_errors_and_a_computed_analysis(two_runs):
    _, (first, _) = two_runs
    notebook = nbformat.read(first / "01_agreement.ipynb", as_version=4)
    outputs = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    ]
    assert not [out for out in outputs if out.output_type == "error"]
    figures = json.loads((first / "metrics.json").read_text())["01_agreement"]
    markdown = [
        out["data"]["text/markdown"]
        for out in outputs
        if "text/markdown" in out.get("data", {})
    ]
    analysis = [text for text in markdown if text.startswith("Trained alike")]
    assert len(analysis) == 1
    assert f"{figures['accuracy']['a']:.2f}%" in analysis[0]
    assert f"{figures['agreement']:.2f}%" in analysis[0]
