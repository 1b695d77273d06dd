"""Exact values of the research metrics and of the probes the studies use."""

import math

import pytest
import torch

from cifarstudy import metrics, probes

F64 = torch.float64


@pytest.mark.parametrize("n_classes", [2, 10, 100])
def test_entropy_of_a_uniform_distribution_is_ln_k(n_classes):
    probs = torch.full((3, n_classes), 1 / n_classes, dtype=F64)
    entropy = metrics.predictive_entropy(probs)
    assert entropy.tolist() == pytest.approx([math.log(n_classes)] * 3, rel=1e-12)


def test_entropy_of_a_one_hot_distribution_is_zero():
    probs = torch.eye(4, dtype=F64)
    assert metrics.predictive_entropy(probs).tolist() == [0.0] * 4


def test_entropy_of_a_hand_made_distribution():
    probs = torch.tensor([[0.5, 0.25, 0.25]], dtype=F64)
    expected = 0.5 * math.log(2) + 2 * 0.25 * math.log(4)  # = 1.5 ln 2
    assert metrics.predictive_entropy(probs).item() == pytest.approx(expected)


def test_label_entropy_of_even_and_of_single_labels():
    assert metrics.label_entropy(torch.tensor([0, 1, 2, 3]), 4) == pytest.approx(
        math.log(4)
    )
    assert metrics.label_entropy(torch.tensor([2, 2, 2]), 4) == 0.0


def test_per_class_mean_averages_within_each_true_class():
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    labels = torch.tensor([0, 0, 1, 1])
    means = metrics.per_class_mean(values, labels, n_classes=3)
    assert means[:2].tolist() == [1.5, 4.5]
    assert torch.isnan(means[2])  # no image of class 2


def test_nll_and_brier_of_a_hand_made_case():
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.75]], dtype=F64)
    labels = torch.tensor([0, 1])
    assert metrics.nll(probs, labels) == pytest.approx(
        (math.log(2) + math.log(4 / 3)) / 2
    )
    # (0.5^2 + 0.5^2 + 0.25^2 + 0.25^2) / 2 images
    assert metrics.brier(probs, labels) == pytest.approx(0.3125)
    assert metrics.brier(torch.eye(2, dtype=F64), torch.tensor([0, 1])) == 0.0


def test_mean_confidence_is_the_mean_top_probability():
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]], dtype=F64)
    assert metrics.mean_confidence(probs) == pytest.approx(0.75)


def test_ece_of_a_perfectly_calibrated_case_is_zero():
    # four images at confidence 0.75, three of them right
    probs = torch.tensor([[0.75, 0.25]] * 4, dtype=F64)
    labels = torch.tensor([0, 0, 0, 1])
    assert metrics.ece(probs, labels, n_bins=10) == 0.0


def hand_case():
    """Five images in 4 bins: (0.75, 1] holds conf 0.9 right and 0.8 wrong,
    (0.5, 0.75] holds 0.6 right, 0.6 right and 0.7 wrong."""
    probs = torch.tensor(
        [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.4, 0.6], [0.3, 0.7]], dtype=F64
    )
    return probs, torch.tensor([0, 1, 0, 1, 0])


def test_calibration_bins_of_a_hand_computed_case():
    count, confidence, accuracy = metrics.calibration_bins(*hand_case(), n_bins=4)
    assert count.tolist() == [0, 0, 3, 2]
    assert confidence[2:].tolist() == pytest.approx([1.9 / 3, 0.85])
    assert accuracy[2:].tolist() == pytest.approx([2 / 3, 0.5])
    assert torch.isnan(confidence[:2]).all() and torch.isnan(accuracy[:2]).all()


def test_ece_of_a_hand_computed_case():
    # 3/5 * |2/3 - 1.9/3| + 2/5 * |0.5 - 0.85| = 0.02 + 0.14
    assert metrics.ece(*hand_case(), n_bins=4) == pytest.approx(0.16)


@pytest.mark.parametrize(
    "top, n_bins, expected_bin",
    [(0.75, 4, 2), (0.28, 25, 6), (0.7, 10, 6), (1.0, 15, 14)],
)
def test_a_confidence_on_a_bin_edge_falls_into_the_lower_bin(top, n_bins, expected_bin):
    rest = (1 - top) / 3
    probs = torch.tensor([[top, rest, rest, rest]], dtype=F64)
    count, _, _ = metrics.calibration_bins(probs, torch.tensor([0]), n_bins)
    assert count.argmax().item() == expected_bin


def test_auroc_is_one_for_perfectly_separated_scores():
    assert metrics.auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert metrics.auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0


def test_auroc_is_one_half_for_identical_scores():
    scores = torch.full((5,), 0.3)
    assert metrics.auroc(scores, scores[:3]) == 0.5


def test_auroc_of_a_hand_computed_case_with_a_tie():
    scores_in = torch.tensor([0.9, 0.6, 0.4])
    scores_out = torch.tensor([0.7, 0.4, 0.1])
    # pairs won by the in-score: 0.9 beats 3, 0.6 beats 2, 0.4 beats 1 and ties 1
    assert metrics.auroc(scores_in, scores_out) == pytest.approx(6.5 / 9)


def test_roc_curve_of_a_hand_computed_case_and_its_area():
    scores_in, scores_out = torch.tensor([0.9, 0.6]), torch.tensor([0.6, 0.1])
    fpr, tpr = metrics.roc_curve(scores_in, scores_out)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    area = torch.trapezoid(tpr, fpr).item()
    assert area == pytest.approx(metrics.auroc(scores_in, scores_out)) == 0.875


def test_fpr_at_95_tpr_of_a_hand_made_case():
    scores_in = torch.arange(1.0, 21.0)  # keeping 19 of 20 needs threshold 2
    scores_out = torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0])
    assert metrics.fpr_at_tpr(scores_in, scores_out, 0.95) == pytest.approx(2 / 5)
    assert metrics.fpr_at_tpr(scores_in, scores_out, 1.0) == pytest.approx(4 / 5)


def test_fpr_at_tpr_refuses_a_rate_outside_0_1():
    with pytest.raises(ValueError, match="tpr"):
        metrics.fpr_at_tpr(torch.ones(3), torch.ones(3), 0.0)


@pytest.mark.parametrize(
    "y, expected",
    [([1, 2, 3, 4], 1.0), ([4, 3, 2, 1], -1.0), ([1, 3, 2, 4], 0.8)],
)
def test_spearman_of_hand_made_orders(y, expected):
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert metrics.spearman(x, torch.tensor(y, dtype=F64)) == pytest.approx(expected)


def test_ood_scores_of_equal_logits():
    scores = metrics.ood_scores(torch.zeros(1, 2))
    assert scores["max_softmax"].item() == 0.5
    assert scores["neg_entropy"].item() == pytest.approx(-math.log(2))
    assert scores["max_logit"].item() == 0.0
    assert scores["neg_energy"].item() == pytest.approx(math.log(2))
    assert set(scores) == set(metrics.OOD_SCORE_NAMES)


# probes


def test_per_class_sample_is_the_same_for_equal_seeds_and_differs_otherwise():
    labels = torch.arange(1000) % 10
    first = probes.sample_per_class(labels, 10, 20, seed=0)
    again = probes.sample_per_class(labels, 10, 20, seed=0)
    other = probes.sample_per_class(labels, 10, 20, seed=1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.bincount(labels[first]).tolist() == [20] * 10
    assert len(first.unique()) == len(first)


def test_per_class_sample_is_the_same_on_every_machine():
    # a CPU torch.Generator draws the same on every platform and device
    labels = torch.arange(20) % 2
    sample = probes.sample_per_class(labels, 2, 3, seed=0)
    assert sample.tolist() == [2, 8, 14, 7, 9, 19]


def test_per_class_sample_refuses_a_class_with_too_few_images():
    with pytest.raises(ValueError, match="class 1 has 1 images"):
        probes.sample_per_class(torch.tensor([0, 0, 1]), 2, 2, seed=0)


def test_gaussian_noise_is_seeded_and_has_the_requested_spread():
    noise = probes.gaussian_noise(200, std=2.0, seed=3)
    assert noise.shape == (200, 3, 32, 32)
    assert torch.equal(noise, probes.gaussian_noise(200, std=2.0, seed=3))
    assert not torch.equal(noise, probes.gaussian_noise(200, std=2.0, seed=4))
    assert noise.std().item() == pytest.approx(2.0, rel=0.01)


def test_uniform_noise_holds_normalised_pixel_levels():
    noise = probes.uniform_noise(50, seed=0)
    assert noise.shape == (50, 3, 32, 32)
    assert torch.equal(noise, probes.uniform_noise(50, seed=0))
    levels = torch.round((noise + 1) * 127.5)  # back to 0..255
    assert torch.allclose(levels, (noise + 1) * 127.5, atol=1e-4)
    assert levels.min().item() == 0 and levels.max().item() == 255


def test_label_distributions_per_group():
    predictions = torch.tensor([0, 0, 1, 2, 2, 2])
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    dist = probes.label_distributions(predictions, groups, n_groups=4, n_classes=3)
    assert dist[:3].tolist() == [[2 / 3, 1 / 3, 0], [0, 0, 1], [0, 0, 1]]
    assert torch.isnan(dist[3]).all()  # no image in group 3


def test_label_spread_of_hand_made_predictions():
    spread = probes.label_spread(torch.tensor([1, 1, 1, 3]), n_classes=4)
    assert spread.distribution.tolist() == [0, 0.75, 0, 0.25]
    assert (spread.top_class, spread.top_share) == (1, 0.75)
    assert spread.entropy == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )


def test_extremes_keep_index_order_among_ties():
    values = torch.tensor([0.5, 0.1, 0.9, 0.1, 0.9, 0.3])
    lowest, highest = probes.extremes(values, 2)
    assert lowest.tolist() == [1, 3]
    assert highest.tolist() == [2, 4]


def test_class_confidence_of_hand_made_logits():
    big = 50.0  # softmax of (50, 0) is one-hot to float precision
    logits = torch.tensor([[big, 0.0], [0.0, 0.0], [0.0, big], [big, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    sample = torch.tensor([0, 2])
    conf = probes.class_confidence(logits, labels, sample, n_classes=2)
    assert conf.entropy_sampled.tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert conf.entropy_full.tolist() == pytest.approx(
        [math.log(2) / 2, 0.0], abs=1e-12
    )
    # image 1 is a tie, which argmax resolves to the first class: right
    assert conf.accuracy.tolist() == [1.0, 0.5]


def test_ood_detection_of_separated_logits():
    logits_in = torch.tensor([[9.0, 0.0], [0.0, 8.0], [7.0, 0.0]])
    logits_out = {"flat": torch.zeros(4, 2)}
    detection = probes.ood_detection(logits_in, logits_out)
    assert set(detection["flat"]) == set(metrics.OOD_SCORE_NAMES)
    for d in detection["flat"].values():
        assert (d.auroc, d.fpr_at_95_tpr) == (1.0, 0.0)
        assert d.fpr[-1].item() == d.tpr[-1].item() == 1.0
