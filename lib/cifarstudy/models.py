"""The classifiers under study, each built from an explicit initialisation seed."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TutorialCNN(nn.Module):
    """The small CNN of the PyTorch CIFAR-10 tutorial.

    conv 3->6 (5x5), max-pool 2, conv 6->16 (5x5), max-pool 2,
    fully connected 400 -> 120 -> 84 -> n_classes, ReLU between layers.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 32, 32) -> (B, K)
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


ARCHITECTURES = {"tutorial_cnn": TutorialCNN}


def build_model(arch: str, init_seed: int, n_classes: int = 10) -> nn.Module:
    """A freshly initialised `arch` on the CPU; equal seeds give equal weights.

    The global RNG is seeded inside a fork, so building a model never changes
    the random state of the caller.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return ARCHITECTURES[arch](n_classes)
