"""Seed variance of a population of nets: spread, agreement, ensembles, collapse.

A seed study trains `n_models` nets per group. In the `init` group the nets
differ only in their initialisation seed, in `order` only in their data-order
seed, in `both` in both. The measures below take the predictions (M, N) or
probabilities (M, N, K) of the M nets of one group on N images.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from . import metrics
from .config import (
    ParameterError,
    StudyConfig,
    check,
    injected_names,
    unknown_parameter,
)
from .train import NetSpec

GROUPS = {  # which seeds vary between the nets of a group
    "init": "same data order, different initialisation",
    "order": "same initialisation, different data order",
    "both": "different initialisation and data order",
}
# disagreement against error: y = x, and the steeper line y = 1.3 x
REFERENCE_SLOPES = (1.0, 1.3)


@dataclass(frozen=True)
class SeedStudy:
    """The population: `n_models` nets per group, seeds counted from `base_seed`.

    Net i of a group has init seed base_seed + i (`init`, `both`) or base_seed
    (`order`), and order seed base_seed + i (`order`, `both`) or base_seed
    (`init`). Net 0 of every group is therefore the same reference net.
    """

    n_models: int = 5  # nets per group
    groups: tuple[str, ...] = tuple(GROUPS)  # groups to train
    base_seed: int = 0  # seed of the reference net; others count up from it

    def __post_init__(self):
        check("n_models", self.n_models, int, minimum=2)
        check("base_seed", self.base_seed, int, minimum=0)
        groups = self.groups
        names = list(groups) if isinstance(groups, list | tuple) else []
        if not names or len(set(names)) != len(names) or set(names) - set(GROUPS):
            raise ParameterError(
                f"groups = {groups!r}: must be a non-empty list of distinct names "
                f"from {', '.join(GROUPS)}"
            )
        object.__setattr__(self, "groups", tuple(names))

    def specs(self) -> dict[str, list[NetSpec]]:
        """{group: its n_models nets}, labelled by their seeds."""
        seeds = [self.base_seed + i for i in range(self.n_models)]
        fixed = [self.base_seed] * self.n_models
        pairs = {
            "init": zip(seeds, fixed),
            "order": zip(fixed, seeds),
            "both": zip(seeds, seeds),
        }
        return {g: [NetSpec(i, o) for i, o in pairs[g]] for g in self.groups}

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "groups": list(self.groups)}


def configs_from_namespace(namespace: dict[str, Any]) -> tuple[StudyConfig, SeedStudy]:
    """The shared StudyConfig and the SeedStudy from a notebook's variables.

    A name papermill injected that neither declares is refused.
    """
    shared = {f.name for f in fields(StudyConfig)}
    own = {f.name for f in fields(SeedStudy)}
    for name in injected_names(namespace):
        if name not in shared | own:
            raise unknown_parameter(name, namespace.get(name), shared | own)
    cfg = StudyConfig.from_namespace(
        {n: namespace[n] for n in shared if n in namespace}
    )
    study = SeedStudy(**{n: namespace[n] for n in own if n in namespace})
    return cfg, study


def unique_specs(*spec_lists: list[NetSpec]) -> list[NetSpec]:
    """Every distinct (init_seed, order_seed) once, first seen first, unlabelled."""
    seeds = dict.fromkeys(
        (s.init_seed, s.order_seed) for s in itertools.chain(*spec_lists)
    )
    return [NetSpec(init, order) for init, order in seeds]


def error_matrix(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(M, N) bool: net m gets image i wrong."""
    return predictions != labels[None, :]


def sampling_std(errors: torch.Tensor) -> float:
    """The std of test accuracy if each image's error were independent across
    runs: sqrt(sum_i p_i (1 - p_i)) / N, p_i the share of the M nets wrong on i."""
    p = errors.double().mean(0)  # (N,)
    return (p * (1 - p)).sum().sqrt().item() / errors.shape[1]


@dataclass(frozen=True)
class GroupSpread:
    """How the test accuracy of a group's nets spreads, and how much of that the
    sampling of the test images explains."""

    accuracies: torch.Tensor = field(repr=False)  # (M,) test accuracy of each net
    mean: float
    std: float  # sample standard deviation over the nets (M - 1 in the denominator)
    low: float
    high: float
    sampling_std: float  # std predicted by independent per-image errors
    # observed variance minus the sampling term, floored at zero.
    # NOTE: p_i from M nets makes sum p_i (1 - p_i) low by (M - 1) / M on average,
    # so this estimate is high by sampling_std**2 / (M - 1) for small groups.
    distribution_variance: float


def accuracy_spread(predictions: torch.Tensor, labels: torch.Tensor) -> GroupSpread:
    """The GroupSpread of M nets' predictions (M, N) against labels (N,)."""
    errors = error_matrix(predictions, labels)
    accuracies = 1 - errors.double().mean(1)  # (M,)
    std = accuracies.std().item()
    sampling = sampling_std(errors)
    return GroupSpread(
        accuracies=accuracies,
        mean=accuracies.mean().item(),
        std=std,
        low=accuracies.min().item(),
        high=accuracies.max().item(),
        sampling_std=sampling,
        distribution_variance=max(std**2 - sampling**2, 0.0),
    )


def mean_pairwise(matrix: torch.Tensor) -> float:
    """Mean of the off-diagonal entries of an (M, M) pairwise matrix."""
    off_diagonal = ~torch.eye(len(matrix), dtype=torch.bool)
    return matrix[off_diagonal].double().mean().item()


@dataclass(frozen=True)
class PairDisagreement:
    """Every pair (a, b), a < b, of a group: disagreement and mean test error."""

    pairs: list[tuple[int, int]]
    disagreement: torch.Tensor  # (P,) share of images the two predict differently
    mean_error: torch.Tensor  # (P,) mean of the two nets' test errors

    @property
    def ratio(self) -> float:
        """Mean disagreement over mean error (nan if no net makes an error)."""
        error = self.mean_error.mean().item()
        return self.disagreement.mean().item() / error if error else float("nan")


def pair_disagreement(predictions: torch.Tensor, labels: torch.Tensor):
    """The PairDisagreement of M nets' predictions (M, N) against labels (N,)."""
    pairs = list(itertools.combinations(range(len(predictions)), 2))
    error = error_matrix(predictions, labels).double().mean(1)  # (M,)
    agreement = metrics.agreement_matrix(predictions)  # (M, M)
    a, b = (torch.tensor(side) for side in zip(*pairs))
    return PairDisagreement(pairs, 1 - agreement[a, b], (error[a] + error[b]) / 2)


def image_disagreement(predictions: torch.Tensor) -> torch.Tensor:
    """(N,) share of the M (M - 1) / 2 pairs of nets that disagree on each image."""
    m = len(predictions)
    # ordered pairs (a, b) with equal predictions, the M pairs (a, a) included
    same = (predictions[:, None, :] == predictions[None, :, :]).double().sum((0, 1))
    return (m * m - same) / (m * (m - 1))


def per_class_disagreement(predictions, labels, n_classes: int) -> torch.Tensor:
    """(K,) mean pairwise disagreement over the images of each true class."""
    return metrics.per_class_mean(image_disagreement(predictions), labels, n_classes)


@dataclass(frozen=True)
class EnsembleCurve:
    """Scores of the averaged softmax of the first k nets, for k = 1 .. M."""

    accuracy: list[float]
    nll: list[float]  # nats
    ece: list[float]


def ensemble_curve(probs: torch.Tensor, labels: torch.Tensor, n_bins: int):
    """The EnsembleCurve of M nets' softmax probabilities (M, N, K)."""
    running = torch.cumsum(probs.double(), 0)  # (M, N, K)
    averaged = [running[k] / (k + 1) for k in range(len(probs))]
    return EnsembleCurve(
        accuracy=[metrics.accuracy(p.argmax(1), labels) for p in averaged],
        nll=[metrics.nll(p, labels) for p in averaged],
        ece=[metrics.ece(p, labels, n_bins) for p in averaged],
    )


@dataclass(frozen=True)
class NoiseCollapse:
    """Whether a group's nets give noise images the same most frequent class."""

    top_classes: list[int]  # the most frequent class of each net
    overall_top: int  # the most frequent class over all nets' predictions pooled
    share: float  # share of nets whose most frequent class is overall_top


def noise_collapse(predictions: torch.Tensor, n_classes: int) -> NoiseCollapse:
    """The NoiseCollapse of M nets' predictions (M, N) on noise images; ties go to
    the lower class index."""
    counts = torch.stack([torch.bincount(p, minlength=n_classes) for p in predictions])
    top_classes = counts.argmax(1)  # (M,)
    overall_top = counts.sum(0).argmax().item()
    share = (top_classes == overall_top).double().mean().item()
    return NoiseCollapse(top_classes.tolist(), overall_top, share)


def percentile_rank(value: float, values: torch.Tensor) -> float:
    """Share of `values` below `value`, ties counting half."""
    values = values.double()
    below = (values < value).double().sum() + (values == value).double().sum() / 2
    return (below / len(values)).item()


def rows_of(specs: list[NetSpec], trained: list[NetSpec]) -> list[int]:
    """The index in `trained` of each spec's net, matched by its two seeds."""
    index = {(s.init_seed, s.order_seed): k for k, s in enumerate(trained)}
    return [index[s.init_seed, s.order_seed] for s in specs]
