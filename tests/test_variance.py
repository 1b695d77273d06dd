import math

import pytest
import torch

from cifarstudy import variance
from cifarstudy.config import ParameterError
from cifarstudy.train import NetSpec

LABELS = torch.tensor([0, 1, 2, 3])


def predictions_from_errors(errors: list[list[int]]) -> torch.Tensor:
    """(M, N) predictions that are wrong (label + 1) exactly where errors is 1."""
    return LABELS[None, :] + torch.tensor(errors)


def test_sampling_std_on_a_hand_made_error_matrix():
    errors = torch.tensor([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    # p = (2/3, 1/3, 0, 2/3): sum p (1 - p) = 3 * 2/9 = 2/3, over N = 4 images
    assert variance.sampling_std(errors) == pytest.approx(math.sqrt(2 / 3) / 4)


def test_spread_of_correlated_errors_leaves_a_distribution_wise_variance():
    # accuracies 1/4, 1, 1/2: mean 7/12, sample variance 21/144
    predictions = predictions_from_errors([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    spread = variance.accuracy_spread(predictions, LABELS)

    assert spread.accuracies.tolist() == [0.25, 1.0, 0.5]
    assert spread.mean == pytest.approx(7 / 12)
    assert spread.std == pytest.approx(math.sqrt(21 / 144))
    assert (spread.low, spread.high) == (0.25, 1.0)
    # p = (2/3, 2/3, 1/3, 0): sampling variance (2/3) / 16 = 6/144
    assert spread.sampling_std == pytest.approx(math.sqrt(6 / 144))
    assert spread.distribution_variance == pytest.approx(15 / 144)


def test_distribution_wise_variance_is_floored_at_zero():
    # accuracies 1/2, 1/2, 3/4: sample variance 1/48 below the sampling term 1/24
    predictions = predictions_from_errors([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]])
    spread = variance.accuracy_spread(predictions, LABELS)
    assert spread.std**2 == pytest.approx(1 / 48)
    assert spread.sampling_std**2 == pytest.approx(1 / 24)
    assert spread.distribution_variance == 0.0


def test_nets_that_never_err_have_no_spread_at_all():
    spread = variance.accuracy_spread(torch.stack([LABELS, LABELS]), LABELS)
    assert (spread.std, spread.sampling_std, spread.distribution_variance) == (0, 0, 0)


def test_agreement_matrix_and_its_mean_off_the_diagonal():
    predictions = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 0, 0]])
    matrix = variance.metrics.agreement_matrix(predictions)
    assert torch.equal(matrix, matrix.T)
    assert torch.equal(matrix.diagonal(), torch.ones(3, dtype=torch.float64))
    assert (matrix[0, 1], matrix[0, 2], matrix[1, 2]) == (0.75, 0.25, 0.5)
    assert variance.mean_pairwise(matrix) == pytest.approx(0.5)


def test_pair_disagreement_against_mean_error():
    predictions = predictions_from_errors([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
    pairs = variance.pair_disagreement(predictions, LABELS)
    assert pairs.pairs == [(0, 1), (0, 2), (1, 2)]
    assert pairs.disagreement.tolist() == [0.5, 0.25, 0.25]
    assert pairs.mean_error.tolist() == [0.25, 0.375, 0.125]
    assert pairs.ratio == pytest.approx((1 / 3) / 0.25)


def test_ratio_is_nan_when_no_net_errs():
    pairs = variance.pair_disagreement(torch.stack([LABELS, LABELS]), LABELS)
    assert math.isnan(pairs.ratio)


def test_image_and_per_class_disagreement():
    # image 0: all three agree; image 1: one pair of three agrees; image 2: none
    predictions = torch.tensor([[5, 1, 0], [5, 1, 1], [5, 2, 2]])  # (M=3, N=3)
    assert variance.image_disagreement(predictions).tolist() == [0.0, 2 / 3, 1.0]
    labels = torch.tensor([0, 0, 1])
    per_class = variance.per_class_disagreement(predictions, labels, n_classes=3)
    assert per_class[:2].tolist() == pytest.approx([1 / 3, 1.0])
    assert torch.isnan(per_class[2])


def test_ensemble_of_identical_nets_equals_the_single_net():
    generator = torch.Generator().manual_seed(0)
    probs = torch.randn(50, 4, generator=generator).softmax(1)
    labels = torch.randint(0, 4, (50,), generator=generator)
    curve = variance.ensemble_curve(torch.stack([probs] * 3), labels, n_bins=5)
    single = variance.ensemble_curve(probs[None], labels, n_bins=5)
    assert curve.accuracy == pytest.approx(single.accuracy * 3)
    assert curve.nll == pytest.approx(single.nll * 3)
    assert curve.ece == pytest.approx(single.ece * 3)
    assert single.accuracy[0] == variance.metrics.accuracy(probs.argmax(1), labels)


def test_ensemble_averages_the_softmax_of_the_first_k_nets():
    probs = torch.tensor(
        [[[0.6, 0.4], [0.9, 0.1]], [[0.0, 1.0], [0.5, 0.5]]], dtype=torch.float64
    )  # (M=2, N=2, K=2)
    labels = torch.tensor([1, 0])
    curve = variance.ensemble_curve(probs, labels, n_bins=2)
    assert curve.accuracy == [0.5, 1.0]  # averaged: (0.3, 0.7) and (0.7, 0.3)
    assert curve.nll[1] == pytest.approx(-math.log(0.7))


def test_noise_collapse_counts_nets_on_the_pooled_top_class():
    predictions = torch.tensor([[3, 3, 1], [3, 2, 2], [3, 3, 3], [0, 0, 3]])
    collapse = variance.noise_collapse(predictions, n_classes=4)
    assert collapse.top_classes == [3, 2, 3, 0]
    assert collapse.overall_top == 3
    assert collapse.share == 0.5


def test_percentile_rank_counts_ties_half():
    values = torch.tensor([0.1, 0.2, 0.2, 0.4], dtype=torch.float64)
    assert variance.percentile_rank(0.2, values) == pytest.approx(0.5)
    assert variance.percentile_rank(0.5, values) == 1.0


def test_groups_share_only_the_reference_net():
    specs = variance.SeedStudy(n_models=3, base_seed=10).specs()
    seeds = {
        g: [(s.init_seed, s.order_seed) for s in nets] for g, nets in specs.items()
    }
    assert seeds == {
        "init": [(10, 10), (11, 10), (12, 10)],
        "order": [(10, 10), (10, 11), (10, 12)],
        "both": [(10, 10), (11, 11), (12, 12)],
    }
    unique = variance.unique_specs(*specs.values(), [NetSpec(11, 11, "a")])
    assert len(unique) == 7
    assert unique[0].name == "init10-order10"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_models": 1}, "n_models = 1: must be >= 2"),
        ({"n_models": 2.0}, "n_models = 2.0: must be int"),
        ({"base_seed": -1}, "base_seed = -1: must be >= 0"),
        ({"groups": []}, "groups = []: must be a non-empty list of distinct names"),
        ({"groups": ["init", "init"]}, "groups = ['init', 'init']: must be"),
        ({"groups": ["seeds"]}, "groups = ['seeds']: must be a non-empty list"),
        ({"groups": "init"}, "groups = 'init': must be a non-empty list"),
    ],
)
def test_seed_study_refuses_bad_parameters(changes, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[")):
        variance.SeedStudy(**changes)


def test_configs_from_namespace_split_shared_and_own_parameters():
    namespace = {"n_models": 3, "groups": ["both"], "epochs": 2, "other": 1}
    cfg, study = variance.configs_from_namespace(namespace)
    assert (cfg.epochs, study.n_models, study.groups) == (2, 3, ("both",))


def test_configs_from_namespace_refuse_an_injected_unknown_name():
    namespace = {"n_model": 3, "In": ["", "# Parameters\nn_model = 3\n"]}
    with pytest.raises(ParameterError, match="did you mean n_models"):
        variance.configs_from_namespace(namespace)


def test_rows_of_finds_each_net_by_its_seeds_whatever_its_label():
    trained = [NetSpec(0, 0), NetSpec(1, 0), NetSpec(1, 1)]
    wanted = [NetSpec(1, 1, "b"), NetSpec(0, 0, "a")]
    assert variance.rows_of(wanted, trained) == [2, 0]
