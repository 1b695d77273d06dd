"""Probes of what a trained net believes, beyond its test accuracy.

Seeded per-class samples of a test set, noise inputs that hold no object at all,
the distribution of predicted labels over a group of images (a CIFAR-100 class,
a noise set), and out-of-distribution detection by scores of the logits.
Every draw uses a CPU `torch.Generator` seeded explicitly, so it is the same on
every machine whatever device the nets run on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from . import metrics
from .data import IMAGE_SHAPE
from .train import normalize

PIXEL_LEVELS = 256  # uint8 pixel values 0..255
DETECTION_TPR = 0.95  # share of in-distribution inputs kept when FPR is reported


def sample_per_class(
    labels: torch.Tensor, n_classes: int, per_class: int, seed: int
) -> torch.Tensor:
    """(n_classes * per_class,) image indices: `per_class` images of each class,
    drawn without replacement with `seed`, class by class, ascending within each."""
    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for k in range(n_classes):
        members = torch.nonzero(labels == k).squeeze(1)
        if len(members) < per_class:
            raise ValueError(
                f"class {k} has {len(members)} images, fewer than the "
                f"{per_class} to draw per class"
            )
        order = torch.randperm(len(members), generator=generator)
        picks.append(members[order[:per_class]].sort().values)
    return torch.cat(picks)


def gaussian_noise(n_images: int, std: float, seed: int) -> torch.Tensor:
    """(N, 3, 32, 32) float32 inputs drawn from N(0, std^2) in the normalised
    input space that the nets see (where the images lie within [-1, 1])."""
    height, width, channels = IMAGE_SHAPE
    generator = torch.Generator().manual_seed(seed)
    return std * torch.randn((n_images, channels, height, width), generator=generator)


def uniform_noise(n_images: int, seed: int) -> torch.Tensor:
    """(N, 3, 32, 32) float32 normalised inputs of images whose pixels are drawn
    uniformly from 0..255, normalised exactly as the images are."""
    height, width, channels = IMAGE_SHAPE
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(
        0,
        PIXEL_LEVELS,
        (n_images, channels, height, width),
        generator=generator,
        dtype=torch.uint8,
    )
    return normalize(pixels)


def label_distributions(
    predictions: torch.Tensor, groups: torch.Tensor, n_groups: int, n_classes: int
) -> torch.Tensor:
    """(G, K) float64: row g is the share of the images of group g that are
    predicted as each of the K classes (nan for a group without images)."""
    flat = groups * n_classes + predictions
    counts = torch.bincount(flat, minlength=n_groups * n_classes).double()
    counts = counts.reshape(n_groups, n_classes)
    return counts / counts.sum(1, keepdim=True)


@dataclass(frozen=True)
class LabelSpread:
    """How a set of predictions spreads over the K classes."""

    distribution: torch.Tensor = field(repr=False)  # (K,) share of each class
    entropy: float  # nats, from 0 (one class) to ln K (uniform)
    top_class: int  # the most frequent predicted class
    top_share: float  # its share of the predictions


def label_spread(predictions: torch.Tensor, n_classes: int) -> LabelSpread:
    """The distribution of `predictions` (N,) over K classes, its entropy and mode."""
    groups = torch.zeros_like(predictions)
    distribution = label_distributions(predictions, groups, 1, n_classes)[0]
    top_share, top_class = distribution.max(0)
    entropy = metrics.predictive_entropy(distribution[None])[0].item()
    return LabelSpread(distribution, entropy, top_class.item(), top_share.item())


def extremes(values: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the `count` smallest values, smallest first, and of the `count`
    largest, largest first; equal values keep their index order."""
    ascending = torch.argsort(values, stable=True)
    descending = torch.argsort(values, descending=True, stable=True)
    return ascending[:count], descending[:count]


@dataclass(frozen=True)
class ClassConfidence:
    """Per class of the test set: how uncertain the net is and how often right."""

    entropy_sampled: torch.Tensor  # (K,) mean predictive entropy over the sample
    entropy_full: torch.Tensor  # (K,) the same over every test image of the class
    accuracy: torch.Tensor  # (K,) share of the class's test images classified right


def class_confidence(
    logits: torch.Tensor, labels: torch.Tensor, sample: torch.Tensor, n_classes: int
) -> ClassConfidence:
    """Mean predictive entropy per true class over the images `sample` and over all
    images, and per-class accuracy, from test logits (N, K) and labels (N,)."""
    entropy = metrics.predictive_entropy(logits.double().softmax(1))  # (N,)
    return ClassConfidence(
        entropy_sampled=metrics.per_class_mean(
            entropy[sample], labels[sample], n_classes
        ),
        entropy_full=metrics.per_class_mean(entropy, labels, n_classes),
        accuracy=metrics.per_class_accuracy(logits.argmax(1), labels, n_classes),
    )


@dataclass(frozen=True)
class Detection:
    """How well one score tells in-distribution inputs from one unseen set."""

    auroc: float  # area under the ROC curve; 0.5 is chance, 1 perfect
    fpr_at_95_tpr: float  # share of unseen inputs accepted when 95% of known are
    fpr: torch.Tensor = field(repr=False)  # ROC curve: false-positive rates
    tpr: torch.Tensor = field(repr=False)  # ROC curve: true-positive rates


def ood_detection(
    logits_in: torch.Tensor, logits_out: Mapping[str, torch.Tensor]
) -> dict[str, dict[str, Detection]]:
    """{unseen set: {score: Detection}} for in-distribution logits (N, K) against
    each unseen set's logits (M, K), over every score of `metrics.ood_scores`."""
    scores_in = metrics.ood_scores(logits_in)
    out = {}
    for name, logits in logits_out.items():
        scores_out = metrics.ood_scores(logits)
        out[name] = {
            score: Detection(
                metrics.auroc(scores_in[score], scores_out[score]),
                metrics.fpr_at_tpr(scores_in[score], scores_out[score], DETECTION_TPR),
                *metrics.roc_curve(scores_in[score], scores_out[score]),
            )
            for score in scores_in
        }
    return out
