"""Pure functions over logits, probabilities and labels.

Shapes: logits and probs (N, K), labels and predictions (N,). Rates are
fractions in [0, 1]; notebooks turn them into percent for display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of predictions equal to the labels."""
    return (predictions == labels).double().mean().item()


def per_class_accuracy(predictions, labels, n_classes: int) -> torch.Tensor:
    """(K,) accuracy over the images of each true class (nan for an absent class)."""
    correct = torch.zeros(n_classes, dtype=torch.float64)
    total = torch.zeros(n_classes, dtype=torch.float64)
    correct.index_add_(0, labels, (predictions == labels).double())
    total.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))
    return correct / total


def per_class_mean(values: torch.Tensor, labels: torch.Tensor, n_classes: int):
    """(K,) mean of per-image `values` (N,) over the images of each true class
    (nan for an absent class)."""
    total = torch.zeros(n_classes, dtype=torch.float64)
    total.index_add_(0, labels, values.double())
    count = torch.bincount(labels, minlength=n_classes).double()
    return total / count


def confusion_matrix(predictions, labels, n_classes: int) -> torch.Tensor:
    """(K, K) counts: row = true class, column = predicted class."""
    flat = labels * n_classes + predictions
    return torch.bincount(flat, minlength=n_classes**2).reshape(n_classes, n_classes)


def agreement(predictions_a: torch.Tensor, predictions_b: torch.Tensor) -> float:
    """Share of images on which two nets predict the same class, whatever the label."""
    return (predictions_a == predictions_b).double().mean().item()


def agreement_matrix(
    predictions: Sequence[torch.Tensor] | torch.Tensor,
) -> torch.Tensor:
    """(M, M) pairwise agreement of M nets' predictions (M, N); ones on the diagonal."""
    stacked = torch.as_tensor(torch.stack(list(predictions)))  # (M, N)
    return (stacked[:, None, :] == stacked[None, :, :]).double().mean(-1)


def pair_outcomes(predictions_a, predictions_b, labels) -> dict[str, float]:
    """How two nets' predictions split over five cases; the shares sum to 1.

    Agreement is `both_correct + both_wrong_same`; disagreement is the rest.
    """
    right_a, right_b = predictions_a == labels, predictions_b == labels
    same = predictions_a == predictions_b
    cases = {
        "both_correct": right_a & right_b,
        "only_a_correct": right_a & ~right_b,
        "only_b_correct": ~right_a & right_b,
        "both_wrong_same": ~right_a & ~right_b & same,
        "both_wrong_different": ~right_a & ~right_b & ~same,
    }
    return {name: mask.double().mean().item() for name, mask in cases.items()}


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """(N,) entropy in nats of each row of probs (N, K); 0 log 0 counts as 0."""
    probs = probs.double()
    return -torch.special.xlogy(probs, probs).sum(-1)


def label_entropy(labels: torch.Tensor, n_classes: int) -> float:
    """Entropy in nats of the empirical distribution of `labels` over K classes."""
    counts = torch.bincount(labels, minlength=n_classes).double()
    return predictive_entropy(counts / counts.sum()).item()


def nll(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log-likelihood of the true labels, in nats."""
    picked = probs.double().gather(1, labels[:, None]).squeeze(1)
    return -picked.clamp_min(torch.finfo(torch.float64).tiny).log().mean().item()


def brier(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over images of the squared distance between probs and the one-hot label."""
    onehot = F.one_hot(labels, probs.shape[1]).double()
    return (probs.double() - onehot).pow(2).sum(1).mean().item()


def mean_confidence(probs: torch.Tensor) -> float:
    """Mean over images of the top probability, the net's own expected accuracy."""
    return probs.double().max(1).values.mean().item()


def calibration_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """Per equal-width confidence bin: count, mean confidence, accuracy; (n_bins,) each.

    A bin holds the images whose top probability lies in (lo, hi]; the first bin
    also takes confidence 0. Empty bins have nan confidence and accuracy.
    """
    confidence, predictions = probs.double().max(1)
    correct = (predictions == labels).double()
    # edges k / n_bins by exact division: `ceil(confidence * n_bins)` would put a
    # confidence of exactly 7/25 into the bin above, as 7/25 * 25 > 7 in floats
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    index = (torch.bucketize(confidence, edges) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins).double()
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, correct)
    return count, conf_sum / count, correct_sum / count


def ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error: sum over bins of |accuracy - confidence| x share."""
    count, confidence, acc = calibration_bins(probs, labels, n_bins)
    gaps = (acc - confidence).abs().nan_to_num(0.0)
    return (gaps * count / count.sum()).sum().item()


def auroc(scores_in: torch.Tensor, scores_out: torch.Tensor) -> float:
    """Area under the ROC curve for telling in- (positive) from out-of-distribution.

    Higher scores mean "in-distribution". Equals P(s_in > s_out) + P(tie) / 2,
    computed through average ranks (Mann-Whitney U).
    """
    scores = torch.cat([scores_in, scores_out]).double()
    ranks = _average_ranks(scores)
    n_in, n_out = len(scores_in), len(scores_out)
    u = ranks[:n_in].sum().item() - n_in * (n_in + 1) / 2
    return u / (n_in * n_out)


def fpr_at_tpr(scores_in: torch.Tensor, scores_out: torch.Tensor, tpr: float = 0.95):
    """Share of out-of-distribution inputs accepted at the threshold that keeps
    `tpr` of in-distribution inputs (score >= threshold is accepted)."""
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    sorted_in = torch.sort(scores_in.double(), descending=True).values
    threshold = sorted_in[math.ceil(tpr * len(sorted_in)) - 1]
    return (scores_out.double() >= threshold).double().mean().item()


def roc_curve(scores_in: torch.Tensor, scores_out: torch.Tensor):
    """(fpr, tpr) arrays over every distinct threshold, from (0, 0) to (1, 1)."""
    scores = torch.cat([scores_in, scores_out]).double()
    is_in = torch.cat(
        [torch.ones(len(scores_in)), torch.zeros(len(scores_out))]
    ).double()
    order = torch.argsort(scores, descending=True)
    scores, is_in = scores[order], is_in[order]
    last_of_tie = torch.cat([scores[1:] != scores[:-1], torch.tensor([True])])
    tp = torch.cumsum(is_in, 0)[last_of_tie]
    fp = torch.cumsum(1 - is_in, 0)[last_of_tie]
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fp / len(scores_out)]), torch.cat(
        [zero, tp / len(scores_in)]
    )


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    rx, ry = _average_ranks(x.double()), _average_ranks(y.double())
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return (rx * ry).sum().item() / math.sqrt(
        (rx * rx).sum().item() * (ry * ry).sum().item()
    )


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks, tied values sharing the mean of their ranks."""
    uniques, inverse, counts = torch.unique(
        values, return_inverse=True, return_counts=True
    )
    ends = torch.cumsum(counts, 0).double()  # last 1-based rank of each unique value
    return (ends - (counts.double() - 1) / 2)[inverse]


OOD_SCORE_NAMES = {  # the keys of `ood_scores`, as reports name them
    "max_softmax": "maximum softmax probability",
    "neg_entropy": "negative predictive entropy",
    "max_logit": "maximum logit",
    "neg_energy": "negative energy",
}


def ood_scores(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Four (N,) scores from logits (N, K), each higher for inputs that look
    in-distribution: the maximum softmax probability, the negative predictive
    entropy, the maximum logit and the negative energy, logsumexp of the logits."""
    probs = logits.double().softmax(1)
    return {
        "max_softmax": probs.max(1).values,
        "neg_entropy": -predictive_entropy(probs),
        "max_logit": logits.double().max(1).values,
        "neg_energy": torch.logsumexp(logits.double(), 1),
    }
