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


# seed-variance study: one colour per group of nets, in the given order
ANNOTATED_NETS = 12  # agreement matrices up to this many nets show their values


def seed_accuracies(accuracies: dict[str, Sequence[float]]):
    """Test accuracy (%) of each net as a point per group, with the group's mean
    and one standard deviation either side."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for x, (group, values) in enumerate(accuracies.items()):
        values = list(values)
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        ax.scatter([x] * len(values), values, alpha=0.6, label=f"{group} nets")
        ax.errorbar(x + 0.15, mean, yerr=std, fmt="ks", capsize=4)
    ax.set_xticks(range(len(accuracies)), list(accuracies))
    ax.set(
        xlabel="group (which seeds differ)",
        ylabel="test accuracy (%)",
        title="Test accuracy of each net; black: group mean ± std",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def agreement_heatmaps(matrices: dict[str, Any], names: dict[str, Sequence[str]]):
    """One heatmap per group of its pairwise agreement matrix (M, M), in percent."""
    fig, axes = plt.subplots(
        1,
        len(matrices),
        figsize=(4.8 * len(matrices), 4.6),
        squeeze=False,
        layout="constrained",
    )
    low = min(min(min(row) for row in m) for m in matrices.values())
    for ax, (group, matrix) in zip(axes[0], matrices.items()):
        image = ax.imshow(matrix, cmap="viridis", vmin=low, vmax=100)
        ticks = range(len(matrix))
        ax.set_xticks(ticks, names[group], rotation=90, fontsize="x-small")
        ax.set_yticks(ticks, names[group], fontsize="x-small")
        if len(matrix) <= ANNOTATED_NETS:
            middle = (low + 100) / 2
            for row, values in enumerate(matrix):
                for col, value in enumerate(values):
                    ax.text(
                        col,
                        row,
                        f"{value:.1f}",
                        ha="center",
                        va="center",
                        color="black" if value > middle else "white",
                        fontsize="x-small",
                    )
        ax.set_title(f"{group}")
    fig.colorbar(image, ax=list(axes[0]), label="agreement (% of test images)")
    fig.suptitle("Pairwise agreement of the nets of each group")
    return fig


def disagreement_against_error(
    pairs: dict[str, tuple[Sequence[float], Sequence[float]]], slopes: Sequence[float]
):
    """Per pair of nets, disagreement (%) against their mean test error (%), one
    colour per group: pairs[group] = (mean errors, disagreements); lines y = s x."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for group, (errors, disagreements) in pairs.items():
        ax.scatter(errors, disagreements, alpha=0.7, label=group)
    values = [v for both in pairs.values() for side in both for v in side]
    lo, hi = min(values) * 0.9, max(values) * 1.05
    for i, slope in enumerate(slopes):
        label = "y = x" if slope == 1 else f"y = {slope:g} x"
        style = ("k--", "k:", "k-.")[i % 3]
        ax.plot([lo, hi], [slope * lo, slope * hi], style, label=label)
    ax.set(
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="mean test error of the pair (%)",
        ylabel="disagreement of the pair (%)",
        title="Disagreement against error, one point per pair of nets",
    )
    ax.legend(title="group")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def per_class_disagreement(values: dict[str, Sequence[float]], classes: Sequence[str]):
    """Grouped bars: mean pairwise disagreement (%) on each true class, one bar
    colour per group."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(values)
    for i, (group, shares) in enumerate(values.items()):
        positions = [k + i * width for k in range(len(classes))]
        ax.bar(positions, list(shares), width, label=group)
    centre = width * (len(values) - 1) / 2
    ax.set_xticks([k + centre for k in range(len(classes))], classes)
    ax.tick_params(axis="x", rotation=45)
    ax.set(
        ylabel="mean pairwise disagreement (%)",
        title="On which true classes the nets of a group disagree",
    )
    ax.legend(title="group")
    fig.tight_layout()
    return fig


def ensemble_growth(curves: dict[str, dict[str, Sequence[float]]]):
    """Accuracy (%), NLL (nats) and ECE (%) of the averaged softmax of the first k
    nets against k: curves[group][metric] = values for k = 1 .. M."""
    titles = {"accuracy": "accuracy (%)", "nll": "NLL (nats)", "ece": "ECE (%)"}
    fig, axes = plt.subplots(1, len(titles), figsize=(13, 3.8))
    for ax, (metric, label) in zip(axes, titles.items()):
        for group, by_metric in curves.items():
            values = list(by_metric[metric])
            ax.plot(range(1, len(values) + 1), values, marker="o", label=group)
        ax.set(xlabel="nets in the ensemble", ylabel=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0].legend(title="group")
    fig.suptitle("Ensembles of the first k nets of each group, averaged softmax")
    fig.tight_layout()
    return fig
