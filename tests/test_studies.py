"""Notebooks 01-03 executed for real by papermill in one suite run on the smoke
preset; the confidence and out-of-distribution studies are checked through the
figures they record in metrics.json."""

import json
import math

import nbformat
import pytest
import torch

from cifarstudy import metrics, suite

SAMPLES_PER_CLASS = 50  # half of the smoke test set's 100 images per class
EXTREMES = 3
NOTEBOOKS = ("01_agreement", "02_confidence", "03_out_of_distribution")
UNSEEN_SETS = {"synthetic100", "gaussian_noise", "uniform_noise"}
LN10 = math.log(10)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    only = [arg for nb in NOTEBOOKS for arg in ("--only", nb[:2])]
    code = suite.main(
        ["--preset", "smoke", "--runs-dir", str(runs), *only]
        + ["--set", f"cache_dir={cache}"]
        + ["--set", f"samples_per_class={SAMPLES_PER_CLASS} extremes={EXTREMES}"]
    )
    (folder,) = [p for p in runs.glob("*/*") if p.is_dir()]
    return code, folder, json.loads((folder / "metrics.json").read_text())


def outputs(folder, notebook):
    cells = nbformat.read(folder / f"{notebook}.ipynb", as_version=4).cells
    return [out for cell in cells if cell.cell_type == "code" for out in cell.outputs]


def markdown(folder, notebook):
    return "\n".join(
        out["data"]["text/markdown"]
        for out in outputs(folder, notebook)
        if "text/markdown" in out.get("data", {})
    )


def test_the_three_notebooks_run_without_errors(run):
    code, folder, figures = run
    assert code == 0
    for notebook in NOTEBOOKS:
        assert not [o for o in outputs(folder, notebook) if o.output_type == "error"]
        assert figures[notebook]["wall_seconds"] > 0
    assert figures["02_confidence"]["params"]["samples_per_class"] == SAMPLES_PER_CLASS
    assert figures["03_out_of_distribution"]["params"]["extremes"] == EXTREMES


def test_the_studies_load_the_nets_that_notebook_01_trained(run):
    _, _, figures = run
    assert figures["01_agreement"]["from_cache"] == {"a": False, "b": False}
    for notebook in NOTEBOOKS[1:]:
        assert figures[notebook]["from_cache"] == {"a": True, "b": True}
        assert figures[notebook]["weights"] == figures["01_agreement"]["weights"]


def test_confidence_figures_per_net(run):
    _, _, figures = run
    study = figures["02_confidence"]
    assert study["max_entropy"] == round(LN10, 4)
    assert study["sampled_images"] == 10 * SAMPLES_PER_CLASS
    for name, net in study["nets"].items():
        # the same cached weights give the same test accuracy as in notebook 01
        assert net["accuracy"] == figures["01_agreement"]["accuracy"][name]
        per_class = net["per_class_accuracy"]
        assert len(per_class) == 10
        # every class has 100 test images, so the class mean is the overall accuracy
        assert sum(per_class.values()) / 10 == pytest.approx(net["accuracy"])
        for key in ("entropy_sampled", "entropy_full"):
            assert list(net[key]) == list(per_class)
            assert all(0 <= value <= LN10 for value in net[key].values())
        assert net["entropy_sampled"] != net["entropy_full"]  # half the images


def test_spearman_matches_the_recorded_per_class_figures(run):
    _, _, figures = run
    for net in figures["02_confidence"]["nets"].values():
        accuracy = list(net["per_class_accuracy"].values())
        for key in ("sampled", "full"):
            entropy = list(net[f"entropy_{key}"].values())
            expected = metrics.spearman(torch.tensor(entropy), torch.tensor(accuracy))
            assert net[f"spearman_{key}"] == pytest.approx(expected, abs=1e-4)


def test_calibration_figures_are_in_range_and_quoted_in_the_analysis(run):
    _, folder, figures = run
    net = figures["02_confidence"]["nets"]["a"]
    assert 0 <= net["ece"] <= 100
    assert 10 <= net["mean_confidence"] <= 100  # the top of 10 probabilities
    assert 0 < net["nll"] < LN10  # trained nets beat a uniform guess
    assert 0 <= net["brier"] <= 2
    analysis = markdown(folder, "02_confidence")
    assert f"its ECE over 15 bins is {net['ece']:.2f}%" in analysis
    assert f"its NLL {net['nll']:.3f} nats" in analysis


def test_unseen_class_distributions_and_extremes(run):
    _, _, figures = run
    study = figures["03_out_of_distribution"]
    assert study["unseen_dataset"] == "synthetic100-test"
    classes = set(figures["02_confidence"]["nets"]["a"]["per_class_accuracy"])
    for net in study["nets"].values():
        unseen = net["unseen_classes"]
        assert len(unseen) == 100
        for entry in unseen.values():
            assert 0 <= entry["entropy"] <= LN10
            assert entry["dominant"] in classes
            assert 10 <= entry["dominant_share"] <= 100  # the top of 10 shares
        lowest, highest = net["extremes"]["lowest"], net["extremes"]["highest"]
        assert len(lowest) == len(highest) == EXTREMES
        entropies = sorted(entry["entropy"] for entry in unseen.values())
        assert [unseen[c]["entropy"] for c in lowest] == entropies[:EXTREMES]
        assert [unseen[c]["entropy"] for c in highest] == entropies[::-1][:EXTREMES]


def test_noise_label_distributions(run):
    _, _, figures = run
    study = figures["03_out_of_distribution"]
    n_images = study["params"]["noise_images"]
    for net in study["nets"].values():
        assert set(net["noise"]) == {"gaussian_noise", "uniform_noise"}
        for noise in net["noise"].values():
            shares = noise["distribution"]
            assert sum(shares.values()) == pytest.approx(100.0)
            for share in shares.values():  # a whole number of images
                images = share * n_images / 100
                assert images == pytest.approx(round(images))
            assert noise["top_share"] == max(shares.values())
            assert shares[noise["top_class"]] == noise["top_share"]
            assert 0 <= noise["entropy"] <= LN10


def test_detection_figures_per_score_and_unseen_set(run):
    _, folder, figures = run
    study = figures["03_out_of_distribution"]
    for net in study["nets"].values():
        assert set(net["detection"]) == UNSEEN_SETS
        for by_score in net["detection"].values():
            assert set(by_score) == set(metrics.OOD_SCORE_NAMES)
            for d in by_score.values():
                assert 0 <= d["auroc"] <= 100 and 0 <= d["fpr95"] <= 100
        # unseen patterns get less confident answers than the test set's own
        assert net["detection"]["synthetic100"]["max_softmax"]["auroc"] > 50
    auroc = study["nets"]["a"]["detection"]["synthetic100"]["max_softmax"]["auroc"]
    assert f"{auroc:.2f}%" in markdown(folder, "03_out_of_distribution")
