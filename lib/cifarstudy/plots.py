"""Matplotlib figures whose titles say what they show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .metrics import OOD_SCORE_NAMES
from .train import TrainResult

ANNOTATED_CLASSES = 12  # confusion matrices up to this size show their counts
HEATMAP_ROW_INCHES = 0.16  # height of one row of a label-distribution heatmap


def loss_curves(results: Sequence[TrainResult], steps_per_epoch: int):
    """Running training loss of each net against epochs."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for result in results:
        if result.loss_curve:
            steps, losses = zip(*result.loss_curve)
            ax.plot(
                [s / steps_per_epoch for s in steps], losses, label=result.spec.name
            )
        else:  # logging interval longer than an epoch: per-epoch means only
            epochs = range(1, len(result.epoch_loss) + 1)
            ax.plot(epochs, result.epoch_loss, marker="o", label=result.spec.name)
    ax.set(
        xlabel="epoch",
        ylabel="training loss (cross-entropy)",
        title="Training loss of each net",
    )
    ax.legend(title="net")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def error_and_disagreement(
    names: Sequence[str], errors: Sequence[float], disagreement: float
):
    """Bars: each net's test error beside the two nets' disagreement, in percent."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"error of {n}" for n in names] + ["disagreement"]
    values = [*errors, disagreement]
    colors = ["tab:blue"] * len(names) + ["tab:orange"]
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set(
        ylabel="% of test images",
        title="Test error of each net and how often they disagree",
    )
    ax.set_ylim(0, max(values) * 1.2 + 1)
    fig.tight_layout()
    return fig


def confusion_matrix(counts, classes: Sequence[str], net: str):
    """Heatmap of a confusion matrix (K, K): rows true class, columns predicted."""
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(counts, cmap="Blues")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    if len(classes) <= ANNOTATED_CLASSES:
        threshold = counts.max() / 2
        for (row, col), value in np.ndenumerate(counts):
            color = "white" if value > threshold else "black"
            ax.text(col, row, str(value), ha="center", va="center", color=color)
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=f"Confusion matrix of net {net} on the test set",
    )
    fig.colorbar(image, ax=ax, label="test images")
    fig.tight_layout()
    return fig


def entropy_vs_accuracy(entropy, accuracy, classes: Sequence[str], net: str):
    """Scatter of each class's mean predictive entropy (nats) against its accuracy
    (%), one labelled point per class."""
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(entropy, accuracy, color="tab:blue")
    for x, y, name in zip(entropy, accuracy, classes):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set(
        xlabel="mean predictive entropy (nats)",
        ylabel="accuracy (%)",
        title=f"Per-class uncertainty against accuracy, net {net}",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def reliability_diagram(count, confidence, accuracy, ece: float, net: str):
    """Accuracy against mean confidence per equal-width confidence bin (n_bins,)
    each, beside the share of images in each bin."""
    count, confidence, accuracy = map(np.asarray, (count, confidence, accuracy))
    n_bins = len(count)
    centres = (np.arange(n_bins) + 0.5) / n_bins
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 6), sharex=True, height_ratios=(3, 1)
    )
    top.bar(centres, accuracy, width=1 / n_bins, edgecolor="black", label="accuracy")
    top.bar(
        centres,
        confidence - accuracy,
        bottom=accuracy,
        width=1 / n_bins,
        color="tab:red",
        alpha=0.4,
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    top.set(ylabel="accuracy", ylim=(0, 1))
    top.set_title(f"Reliability diagram of net {net} (ECE {100 * ece:.2f}%)")
    top.legend(loc="upper left")
    bottom.bar(centres, count / count.sum(), width=1 / n_bins, color="gray")
    bottom.set(xlabel="confidence (top softmax probability)", ylabel="share")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    return fig


def label_distribution_heatmap(
    distributions, groups: Sequence[str], classes: Sequence[str], title: str
):
    """Heatmap of label distributions (G, K), one row per group in the given order."""
    distributions = np.asarray(distributions)
    height = max(4.0, HEATMAP_ROW_INCHES * len(groups))
    fig, ax = plt.subplots(figsize=(7, height))
    image = ax.imshow(distributions, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(groups)), groups, fontsize="x-small")
    ax.set(xlabel="predicted class", title=title)
    fig.colorbar(image, ax=ax, fraction=0.05, label="share of the group's images")
    fig.tight_layout()
    return fig


def label_shares(distributions: dict[str, Any], classes: Sequence[str], title: str):
    """Grouped bars: the share (%) of each predicted class, one bar colour per
    named distribution (K,)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(distributions)
    positions = np.arange(len(classes))
    for i, (name, shares) in enumerate(distributions.items()):
        ax.bar(positions + i * width, 100 * np.asarray(shares), width, label=name)
    ax.set_xticks(positions + width * (len(distributions) - 1) / 2, classes)
    ax.tick_params(axis="x", rotation=45)
    ax.set(ylabel="% of images predicted as the class", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def roc_curves(curves: dict[str, dict[str, tuple[Any, Any]]], net: str):
    """ROC curves, one panel per unseen set, one line per score:
    curves[unseen set][score] = (fpr, tpr)."""
    fig, axes = plt.subplots(
        1,
        len(curves),
        figsize=(4.5 * len(curves), 4.8),
        squeeze=False,
        layout="constrained",
    )
    for ax, (unseen, by_score) in zip(axes[0], curves.items()):
        for score, (fpr, tpr) in by_score.items():
            ax.plot(fpr, tpr, label=OOD_SCORE_NAMES.get(score, score))
        ax.plot([0, 1], [0, 1], "k:", label="chance")
        ax.set(
            xlabel="false-positive rate (unseen accepted)",
            ylabel="true-positive rate (test kept)",
            title=f"{unseen}",
            aspect="equal",
        )
        ax.legend(loc="lower right", fontsize="small")
    fig.suptitle(f"Telling the test set from unseen inputs by scores of net {net}")
    return fig
