"""SGD training of several nets at once, each with its own init and data order.

The reference protocol uses mini-batches of 4 images, so a step does very
little arithmetic and most of its time is per-operation overhead. Nets that
train together therefore run as one grouped model: K tutorial CNNs become
grouped convolutions and batched matrix products, and one optimizer step
updates all K. Every net still sees its own batches in its own order, and its
weights match those of a plain one-net loop over the same batches to float
tolerance (tests/test_train.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from . import cache
from .data import NORMALIZE_MEAN, NORMALIZE_STD, ImageSet
from .models import TutorialCNN, build_model


@dataclass(frozen=True)
class TrainSettings:
    """Everything besides the seeds that changes the trained weights."""

    arch: str = "tutorial_cnn"
    epochs: int = 5  # passes over the training set
    batch_size: int = 4  # images per SGD step
    lr: float = 0.001  # SGD learning rate
    momentum: float = 0.9  # SGD momentum


@dataclass(frozen=True)
class NetSpec:
    """One net of a study: the two seeds that tell it apart, and a short label."""

    init_seed: int
    order_seed: int
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"init{self.init_seed}-order{self.order_seed}"


@dataclass
class TrainResult:
    """Trained weights of one net and how its training loss went."""

    spec: NetSpec
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    loss_curve: list[tuple[int, float]]  # (global step, mean loss since last log)
    epoch_loss: list[float]  # mean training loss of each epoch
    train_seconds: float
    key: str = ""  # weight-cache key
    from_cache: bool = False


def data_order(order_seed: int, n: int, epochs: int) -> torch.Tensor:
    """The image order of every epoch, (epochs, n) int64, fixed by `order_seed`."""
    generator = torch.Generator().manual_seed(order_seed)
    return torch.stack([torch.randperm(n, generator=generator) for _ in range(epochs)])


def loss_line(epoch: int, step: int, loss: float, label: str = "") -> str:
    """The tutorial's running-loss line, `[epoch, step] loss: x.xxx` (1-based)."""
    prefix = f"{label} " if label else ""
    return f"{prefix}[{epoch}, {step:5d}] loss: {loss:.3f}"


def images_to_device(image_set: ImageSet, device: torch.device) -> torch.Tensor:
    """The images as one uint8 tensor (N, 3, 32, 32) on `device`."""
    images = torch.from_numpy(image_set.images).permute(0, 3, 1, 2)
    return images.contiguous().to(device)


def normalize(images: torch.Tensor, n_nets: int = 1) -> torch.Tensor:
    """uint8 (B, 3*n_nets, H, W) -> float32 scaled to [0, 1], then standardised."""
    mean = torch.tensor(NORMALIZE_MEAN * n_nets, device=images.device)
    std = torch.tensor(NORMALIZE_STD * n_nets, device=images.device)
    x = images.float().div_(255)
    return x.sub_(mean[:, None, None]).div_(std[:, None, None])


class GroupedTutorialCNN(nn.Module):
    """K tutorial CNNs computed as one model.

    Input (B, 3K, 32, 32): channels 3k..3k+2 hold net k's own batch.
    Output (K, B, n_classes).
    """

    def __init__(self, nets: Sequence[TutorialCNN]):
        super().__init__()
        self.n_nets = len(nets)
        for name in ("conv1", "conv2"):  # grouped convs: weights end to end
            for part in ("weight", "bias"):
                stacked = torch.cat([getattr(getattr(n, name), part) for n in nets])
                self.register_parameter(
                    f"{name}_{part}", nn.Parameter(stacked.detach())
                )
        for name in ("fc1", "fc2", "fc3"):  # batched matmuls: (K, out, in), (K, 1, out)
            weight = torch.stack([getattr(n, name).weight for n in nets])
            bias = torch.stack([getattr(n, name).bias for n in nets])[:, None, :]
            self.register_parameter(f"{name}_weight", nn.Parameter(weight.detach()))
            self.register_parameter(f"{name}_bias", nn.Parameter(bias.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b = self.n_nets, x.shape[0]
        x = F.max_pool2d(
            F.relu(F.conv2d(x, self.conv1_weight, self.conv1_bias, groups=k)), 2
        )
        x = F.max_pool2d(
            F.relu(F.conv2d(x, self.conv2_weight, self.conv2_bias, groups=k)), 2
        )
        x = x.reshape(b, k, -1).transpose(0, 1)  # (K, B, 400)
        x = F.relu(torch.baddbmm(self.fc1_bias, x, self.fc1_weight.transpose(1, 2)))
        x = F.relu(torch.baddbmm(self.fc2_bias, x, self.fc2_weight.transpose(1, 2)))
        return torch.baddbmm(self.fc3_bias, x, self.fc3_weight.transpose(1, 2))

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """One TutorialCNN state dict per net, on the CPU."""
        out: list[dict[str, torch.Tensor]] = [{} for _ in range(self.n_nets)]
        for name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
            weight = getattr(self, f"{name}_weight").detach().cpu()
            bias = getattr(self, f"{name}_bias").detach().cpu()
            bias = bias.reshape(self.n_nets, -1)  # conv (K*out,), fc (K, 1, out)
            weight = weight.chunk(self.n_nets) if name.startswith("conv") else weight
            for k in range(self.n_nets):
                out[k][f"{name}.weight"] = weight[k].clone()
                out[k][f"{name}.bias"] = bias[k].clone()
        return out


class ModelStack(nn.Module):
    """K arbitrary nets behind the grouped interface: (B, 3K, H, W) -> (K, B, C)."""

    def __init__(self, nets: Sequence[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.n_nets = len(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [net(part) for net, part in zip(self.nets, x.chunk(self.n_nets, 1))]
        )

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        return [
            {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            for net in self.nets
        ]


def group_models(nets: Sequence[nn.Module]) -> nn.Module:
    """The fastest grouped form of `nets`: fused for tutorial CNNs, else a stack."""
    if all(type(net) is TutorialCNN for net in nets):
        return GroupedTutorialCNN(nets)
    return ModelStack(nets)


def train_nets(
    specs: Sequence[NetSpec],
    train_set: ImageSet,
    settings: TrainSettings,
    device: torch.device | str = "cpu",
    log_every: int = 2000,
    progress: Callable[[str], None] = print,
) -> list[TrainResult]:
    """Train one net per spec, all together, and return their weights and losses.

    Net k starts from `build_model(arch, init_seed_k)` and visits the training
    images in `data_order(order_seed_k)`; nothing else differs between nets.
    Every `log_every` mini-batches each net's running loss is reported as a
    `loss_line`, and after each epoch one summary row.
    """
    device = torch.device(device)
    nets = [build_model(settings.arch, s.init_seed, train_set.n_classes) for s in specs]
    model = group_models(nets).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=settings.momentum
    )
    images = images_to_device(train_set, device)
    labels = torch.from_numpy(train_set.labels).to(device)
    orders = torch.stack(
        [data_order(s.order_seed, len(train_set), settings.epochs) for s in specs],
        dim=1,
    ).to(device)  # (epochs, K, N)

    n_nets, batch = len(specs), settings.batch_size
    steps = math.ceil(len(train_set) / batch)
    curves: list[list[tuple[int, float]]] = [[] for _ in specs]
    epoch_loss: list[list[float]] = [[] for _ in specs]
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        epoch_start = time.perf_counter()
        running = torch.zeros(n_nets, device=device)
        total = torch.zeros(n_nets, device=device)
        for step in range(steps):
            index = orders[epoch, :, step * batch : (step + 1) * batch]  # (K, B)
            losses = _sgd_step(model, optimizer, images, labels, index)
            running += losses
            if (step + 1) % log_every == 0:
                total += running
                for k, value in enumerate((running / log_every).tolist()):
                    curves[k].append((epoch * steps + step + 1, value))
                    progress(loss_line(epoch + 1, step + 1, value, specs[k].name))
                running.zero_()
        total += running
        for k, value in enumerate((total / steps).tolist()):
            epoch_loss[k].append(value)
        seconds = time.perf_counter() - epoch_start
        progress(
            _epoch_row(
                epoch, settings.epochs, specs, epoch_loss, seconds, len(train_set)
            )
        )

    seconds = time.perf_counter() - start
    return [
        TrainResult(spec, state, curves[k], epoch_loss[k], seconds)
        for k, (spec, state) in enumerate(zip(specs, model.state_dicts()))
    ]


def _sgd_step(model, optimizer, images, labels, index) -> torch.Tensor:
    """One SGD step of every net on its own batch; returns each net's loss (K,)."""
    n_nets, batch = index.shape
    x = images[index].transpose(0, 1).reshape(batch, n_nets * 3, *images.shape[2:])
    logits = model(normalize(x, n_nets))  # (K, B, C)
    losses = (
        F.cross_entropy(
            logits.reshape(n_nets * batch, -1),
            labels[index].reshape(-1),
            reduction="none",
        )
        .reshape(n_nets, batch)
        .mean(1)
    )
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()  # nets share no weights: each gets its own gradient
    optimizer.step()
    return losses.detach()


def _epoch_row(epoch, epochs, specs, epoch_loss, seconds, n_images) -> str:
    losses = " ".join(f"{s.name} {epoch_loss[k][-1]:.3f}" for k, s in enumerate(specs))
    rate = n_images / seconds
    return (
        f"epoch {epoch + 1:>2}/{epochs} | mean loss {losses} | "
        f"{seconds:7.1f} s | {rate:8.0f} img/s per net"
    )


def weights_key(
    spec: NetSpec, settings: TrainSettings, train_set: ImageSet, device: torch.device
) -> str:
    """The cache key of a net: every input that changes its trained weights."""
    return cache.cache_key(
        kind="weights",
        arch=settings.arch,
        n_classes=train_set.n_classes,
        init_seed=spec.init_seed,
        order_seed=spec.order_seed,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        momentum=settings.momentum,
        dataset=train_set.name,
        data=train_set.checksum,
        device=device.type,
    )


def train_or_load(
    specs: Sequence[NetSpec],
    train_set: ImageSet,
    settings: TrainSettings,
    device: torch.device | str,
    cache_dir: str | Path,
    log_every: int = 2000,
    progress: Callable[[str], None] = print,
) -> list[TrainResult]:
    """`train_nets` for the specs whose weights are not cached yet; load the rest.

    Newly trained nets are written to the cache one file per net, so every
    notebook and every later run with the same settings reuses them.
    """
    device = torch.device(device)
    keys = [weights_key(s, settings, train_set, device) for s in specs]
    results: dict[int, TrainResult] = {}
    for i, (spec, key) in enumerate(zip(specs, keys)):
        entry = cache.load(cache.entry_path(cache_dir, "weights", key))
        if entry is not None:
            results[i] = TrainResult(
                spec,
                entry["state_dict"],
                entry["loss_curve"],
                entry["epoch_loss"],
                entry["train_seconds"],
                key,
                from_cache=True,
            )
            progress(f"{spec.name}: loaded cached weights {key}")

    missing = [i for i in range(len(specs)) if i not in results]
    if missing:
        names = ", ".join(specs[i].name for i in missing)
        progress(f"training {names} on {train_set.name} ({device.type})")
        trained = train_nets(
            [specs[i] for i in missing],
            train_set,
            settings,
            device,
            log_every,
            progress,
        )
        for i, result in zip(missing, trained):
            result.key = keys[i]
            cache.save(
                _entry(result, settings),
                cache.entry_path(cache_dir, "weights", keys[i]),
            )
            results[i] = result
    return [results[i] for i in range(len(specs))]


def _entry(result: TrainResult, settings: TrainSettings) -> dict:
    return {
        "state_dict": result.state_dict,
        "loss_curve": result.loss_curve,
        "epoch_loss": result.epoch_loss,
        "train_seconds": result.train_seconds,
        "spec": asdict(result.spec),
        "settings": asdict(settings),
    }
