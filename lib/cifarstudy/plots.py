"""Matplotlib figures whose titles say what they show."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from .train import TrainResult


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
