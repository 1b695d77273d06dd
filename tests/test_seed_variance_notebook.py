"""Notebook 04 executed for real by papermill through the suite, smoke preset."""

import json
import math

import nbformat
import pytest

from cifarstudy import suite, variance
from cifarstudy.config import project_root

NOTEBOOK = "04_seed_variance"
N_MODELS = 3
GROUPS = ("init", "order", "both")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    code = suite.main(
        [
            "--preset",
            "smoke",
            "--only",
            "04",
            "--runs-dir",
            str(runs),
            "--set",
            f"cache_dir={cache}",
            "--set",
            f"n_models={N_MODELS}",
        ]
    )
    (folder,) = [p for p in runs.glob("*/*") if p.is_dir()]
    figures = json.loads((folder / "metrics.json").read_text())[NOTEBOOK]
    notebook = nbformat.read(folder / f"{NOTEBOOK}.ipynb", as_version=4)
    return code, figures, notebook


def outputs(notebook):
    return [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    ]


def test_the_notebook_runs_without_errors(executed):
    code, figures, notebook = executed
    assert code == 0
    assert not [out for out in outputs(notebook) if out.output_type == "error"]
    assert figures["status"] == "finished"
    assert figures["params"]["dataset"] == "synthetic"
    assert figures["study"] == {"n_models": 3, "groups": list(GROUPS), "base_seed": 0}


def test_groups_share_only_the_reference_net_which_is_trained_once(executed):
    _, figures, _ = executed
    groups = figures["groups"]
    assert list(groups) == list(GROUPS)
    assert groups["init"]["nets"] == ["init0-order0", "init1-order0", "init2-order0"]
    assert groups["order"]["nets"] == ["init0-order0", "init0-order1", "init0-order2"]
    assert groups["both"]["nets"] == ["init0-order0", "init1-order1", "init2-order2"]
    assert len(figures["weights"]) == 3 * N_MODELS - 2
    assert not any(figures["from_cache"].values())
    assert len({g["accuracy"][0] for g in groups.values()}) == 1


@pytest.mark.parametrize("group", GROUPS)
def test_spread_figures_follow_from_the_accuracies(executed, group):
    _, figures, _ = executed
    g = figures["groups"][group]
    accuracy = g["accuracy"]
    assert len(accuracy) == N_MODELS
    assert all(30.0 < a <= 100.0 for a in accuracy)  # chance is 10%
    mean = sum(accuracy) / N_MODELS
    std = math.sqrt(sum((a - mean) ** 2 for a in accuracy) / (N_MODELS - 1))
    assert g["mean_accuracy"] == pytest.approx(mean, abs=0.01)
    assert g["std"] == pytest.approx(std, abs=0.01)
    assert g["range"] == [min(accuracy), max(accuracy)]
    assert g["sampling_std"] > 0
    remaining = max(g["std"] ** 2 - g["sampling_std"] ** 2, 0.0)
    assert g["distribution_variance"] == pytest.approx(remaining, abs=0.02)


@pytest.mark.parametrize("group", GROUPS)
def test_agreement_pairs_and_ensemble_are_consistent(executed, group):
    _, figures, _ = executed
    g = figures["groups"][group]
    matrix = g["agreement_matrix"]
    assert [matrix[i][i] for i in range(N_MODELS)] == [100.0] * N_MODELS
    assert all(matrix[i][j] == matrix[j][i] for i in range(3) for j in range(3))
    off_diagonal = [matrix[0][1], matrix[0][2], matrix[1][2]]
    assert [p["disagreement"] for p in g["pairs"]] == pytest.approx(
        [100 - a for a in off_diagonal], abs=0.01
    )
    assert g["mean_agreement"] + g["mean_disagreement"] == pytest.approx(100.0)
    mean_error = 100 - g["mean_accuracy"]
    assert g["disagreement_error_ratio"] == pytest.approx(
        g["mean_disagreement"] / mean_error, rel=2e-3
    )
    ensemble = g["ensemble"]
    assert ensemble["accuracy"][0] == g["accuracy"][0]  # one net: the net itself
    assert [len(v) for v in ensemble.values()] == [N_MODELS] * 3
    assert set(g["per_class_disagreement"]) == {f"pattern{k}" for k in range(10)}
    for noise in g["noise"].values():
        assert noise["share"] in (0.0, 33.33, 66.67, 100.0)
        assert len(noise["top_classes"]) == N_MODELS


def test_closing_analysis_quotes_the_computed_figures(executed):
    _, figures, notebook = executed
    markdown = [
        out["data"]["text/markdown"]
        for out in outputs(notebook)
        if "text/markdown" in out.get("data", {})
    ]
    (analysis,) = [text for text in markdown if text.startswith("**init**")]
    for group in GROUPS:
        g = figures["groups"][group]
        assert f"**{group}**" in analysis
        assert f"mean test accuracy {g['mean_accuracy']:.2f}%" in analysis
        assert f"observed std {g['std']:.3f} points" in analysis
        assert f"against {g['sampling_std']:.3f} predicted" in analysis
        assert f"agreement {g['mean_agreement']:.2f}%" in analysis
        assert f"is {g['disagreement_error_ratio']:.2f} times" in analysis
    pair = figures["pair_01"]
    assert pair["nets"] == ["init0-order0", "init1-order1"]
    assert f"agrees on {pair['agreement']:.2f}%" in analysis


@pytest.mark.parametrize("preset", ["seeds-cpu", "seeds-full"])
def test_seed_presets_hold_valid_parameters_that_notebook_04_declares(preset):
    root = project_root()
    params = suite.load_preset(root, preset)
    assert params.pop("notebooks") == [NOTEBOOK]
    declared = suite.declared_parameters(root / "notebooks" / f"{NOTEBOOK}.ipynb")
    assert set(params) <= declared
    cfg, study = variance.configs_from_namespace(params)
    assert (cfg.dataset, study.groups) == ("cifar10", GROUPS)
    assert study.n_models >= N_MODELS
