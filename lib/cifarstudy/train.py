"""SGD training of several nets at once, each with its own init and data order.

The reference protocol uses mini-batches of 4 images, so a step does very
little arithmetic and most of its time is per-operation overhead. What runs
fastest was measured on a shared 2-core CPU (`make bench`,
benchmarks/bench_engine.py):

- nets that train together run as one grouped model: K tutorial CNNs become
  grouped convolutions and batched matrix products, one flat SGD update moves
  all K, and each net's batch is gathered from one uint8 tensor of the whole
  training set and normalised on the fly;
- on a CPU the nets are spread over one worker process per core, each with
  one thread: a second thread changed a lone net's speed by -20% to +15% over
  three runs (1,936-3,486 img/s against 2,427-3,038), waits on the first at
  every operation and, when another program keeps the other core busy, makes
  a step several times slower; two single-threaded processes keep both cores
  busy (in one run, 2 nets: 2,923 img/s per net against 1,995 as one grouped
  process; 8 nets: 1,364 against 673);
- a net alone in its process runs NCHW through PyTorch's own convolutions
  (ahead of channels-last oneDNN in two runs of three); a group of several
  runs channels-last through oneDNN.

Against the tutorial loop of the seed notebooks (PIL transforms, DataLoader
with 2 workers, one net after another), three `make bench` runs there on
real CIFAR-10 gave 4.6-4.8x per net for one net, 4.3-5.5x for two and
1.9-2.3x for eight. Eight nets are bound by arithmetic: the grouped
convolutions alone run at about a third of one core's fp32 matrix-product
peak, and even with nothing else to do they would make eight nets 3.6-5.4x
faster (the bench prints this ceiling). Every net still sees its own
batches in its own order, and its weights match those of a plain one-net
loop over the same batches to float tolerance (tests/test_engine.py).
"""

from __future__ import annotations

import math
import os
import queue
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import multiprocessing, nn
from torch.nn import functional as F

from . import cache
from .data import NORMALIZE_MEAN, NORMALIZE_STD, ImageSet
from .models import TutorialCNN, build_model

# how training processes start: forked on Linux, where a child starts in a few
# milliseconds and shares the parent's memory, as DataLoader workers do; spawned
# (a fresh interpreter importing torch, seconds) where forking is unsafe
START_METHOD = "fork" if sys.platform == "linux" else "spawn"
WORKER_POLL_SECONDS = 1.0  # how often the parent checks that its workers live


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
    train_seconds: float  # wall time of the whole call, worker start included
    key: str = ""  # weight-cache key
    from_cache: bool = False
    epoch_seconds: list[float] = field(default_factory=list)  # wall time per epoch


@dataclass(frozen=True)
class Kernels:
    """How one group of nets computes: memory layout and convolution library."""

    channels_last: bool  # images and activations stored (B, H, W, C)
    mkldnn: bool  # oneDNN convolutions; False: PyTorch's native ones
    threads: int | None  # torch threads while training; None: leave as set


def choose_kernels(n_nets: int, device: torch.device) -> Kernels:
    """The faster kernels for a group of `n_nets` nets on `device`."""
    if device.type != "cpu":
        # NOTE: chosen without a GPU measurement: cuDNN's grouped convolutions
        return Kernels(channels_last=False, mkldnn=True, threads=None)
    grouped = n_nets > 1
    return Kernels(channels_last=grouped, mkldnn=grouped, threads=1)


def plan_processes(
    n_nets: int, device: torch.device, processes: int | None = None
) -> list[list[int]]:
    """The nets' indices trained in each process, [[0, 2], [1, 3]] for example.

    All nets train in one process on a GPU; on a CPU they are dealt round-robin
    to `processes` (default: one per usable core).
    """
    if processes is None:
        processes = usable_cores() if device.type == "cpu" else 1
    if device.type != "cpu" and processes > 1:
        raise ValueError("training in several processes is for the CPU only")
    n = max(1, min(processes, n_nets))
    return [list(range(first, n_nets, n)) for first in range(n)]


def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def data_order(order_seed: int, n: int, epochs: int) -> torch.Tensor:
    """The image order of every epoch, (epochs, n) int64, fixed by `order_seed`."""
    generator = torch.Generator().manual_seed(order_seed)
    return torch.stack([torch.randperm(n, generator=generator) for _ in range(epochs)])


def loss_line(epoch: int, step: int, loss: float, label: str = "") -> str:
    """The tutorial's running-loss line, `[epoch, step] loss: x.xxx` (1-based)."""
    prefix = f"{label} " if label else ""
    return f"{prefix}[{epoch}, {step:5d}] loss: {loss:.3f}"


def images_to_device(image_set: ImageSet, device: torch.device) -> torch.Tensor:
    """The images as one contiguous uint8 tensor (N, 3, 32, 32) on `device`."""
    images = torch.from_numpy(image_set.images).permute(0, 3, 1, 2)
    return images.contiguous().to(device)


def channel_stats(n_nets: int, device: torch.device) -> tuple:
    """The normalisation's mean and std for K nets' stacked channels (3K, 1, 1).

    One value shared by every channel, as in the reference protocol, comes back
    as a plain number: a scalar costs less than broadcasting a tensor.
    """
    if len(set(NORMALIZE_MEAN)) == 1 and len(set(NORMALIZE_STD)) == 1:
        return NORMALIZE_MEAN[0], NORMALIZE_STD[0]
    mean = torch.tensor(NORMALIZE_MEAN * n_nets, device=device)[:, None, None]
    std = torch.tensor(NORMALIZE_STD * n_nets, device=device)[:, None, None]
    return mean, std


def normalize(images: torch.Tensor, n_nets: int = 1, stats=None) -> torch.Tensor:
    """uint8 (B, 3*n_nets, H, W) -> float32 scaled to [0, 1], then standardised.

    `stats`: `channel_stats(n_nets, device)`, computed here when not given.
    """
    mean, std = stats or channel_stats(n_nets, images.device)
    x = images.float().div_(255)  # keeps the memory layout of `images`
    return x.sub_(mean).div_(std)


def batch_images(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Net k's batch `images[index[k]]` in channels 3k..3k+2: (B, 3K, H, W) uint8.

    `images` is (N, 3, H, W) contiguous and `index` (K, B).
    """
    n_nets, batch = index.shape
    x = images.index_select(0, index.T.reshape(-1))  # (B*K, 3, H, W), b-major
    return x.view(batch, 3 * n_nets, *images.shape[2:])


class FlatSGD:
    """torch.optim.SGD with momentum (no dampening, weight decay or Nesterov) over
    parameters made views of one flat tensor: a step is three operations on the
    whole flat tensor rather than several per parameter, with the same result.

    Gradients accumulate in place into views of one flat gradient tensor, which
    `zero_grad` zeroes in one operation.
    """

    def __init__(self, params, lr: float, momentum: float):
        params = list(params)
        n = sum(p.numel() for p in params)
        self.weights = torch.empty(n, device=params[0].device)
        self.grads = torch.zeros_like(self.weights)
        # zeros: the first step's 0 * momentum + gradient is the gradient itself,
        # as torch.optim.SGD's first step copies it
        self.momentum_buffer = torch.zeros_like(self.weights)
        self.lr, self.momentum = lr, momentum
        offset = 0
        for p in params:
            if not _dense(p):
                raise ValueError("FlatSGD needs contiguous or channels-last params")
            view = self.weights[offset : offset + p.numel()]
            p.data = view.as_strided(p.shape, p.stride()).copy_(p.data)
            p.grad = self.grads[offset : offset + p.numel()].as_strided(
                p.shape, p.stride()
            )
            offset += p.numel()

    def zero_grad(self) -> None:
        self.grads.zero_()

    def step(self) -> None:
        self.momentum_buffer.mul_(self.momentum).add_(self.grads)
        self.weights.add_(self.momentum_buffer, alpha=-self.lr)


def _dense(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous() or (
        tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last)
    )


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
                    f"{name}_{part}", nn.Parameter(stacked.detach().clone())
                )
        for name in ("fc1", "fc2", "fc3"):  # batched x @ W: (K, in, out), (K, 1, out)
            weight = torch.stack([getattr(n, name).weight.T for n in nets])
            bias = torch.stack([getattr(n, name).bias for n in nets])[:, None, :]
            self.register_parameter(
                f"{name}_weight", nn.Parameter(weight.detach().contiguous())
            )
            self.register_parameter(f"{name}_bias", nn.Parameter(bias.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b = self.n_nets, x.shape[0]
        # max-pooling before the ReLU gives the same values and gradients as
        # after it (both are monotone), with a quarter of the ReLU's work
        x = F.conv2d(x, self.conv1_weight, self.conv1_bias, groups=k)
        x = F.relu(F.max_pool2d(x, 2))
        x = F.conv2d(x, self.conv2_weight, self.conv2_bias, groups=k)
        x = F.relu(F.max_pool2d(x, 2))
        x = x.reshape(b, k, -1).transpose(0, 1)  # (K, B, 400), the nets' flatten
        x = F.relu(torch.baddbmm(self.fc1_bias, x, self.fc1_weight))
        x = F.relu(torch.baddbmm(self.fc2_bias, x, self.fc2_weight))
        return torch.baddbmm(self.fc3_bias, x, self.fc3_weight)

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """One TutorialCNN state dict per net, contiguous on the CPU."""
        out: list[dict[str, torch.Tensor]] = [{} for _ in range(self.n_nets)]
        for name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
            weight = getattr(self, f"{name}_weight").detach().cpu()
            bias = getattr(self, f"{name}_bias").detach().cpu()
            bias = bias.reshape(self.n_nets, -1)  # conv (K*out,), fc (K, 1, out)
            if name.startswith("conv"):
                weight = weight.chunk(self.n_nets)
            else:
                weight = weight.transpose(1, 2)  # (K, out, in), as nn.Linear
            for k in range(self.n_nets):
                out[k][f"{name}.weight"] = _plain_copy(weight[k])
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
            {k: _plain_copy(v.detach().cpu()) for k, v in net.state_dict().items()}
            for net in self.nets
        ]


def _plain_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous copy: a state dict as a plain one-net model would hold it."""
    return tensor.clone(memory_format=torch.contiguous_format)


def group_models(nets: Sequence[nn.Module]) -> nn.Module:
    """The fastest grouped form of `nets`: fused for tutorial CNNs, else a stack."""
    if all(type(net) is TutorialCNN for net in nets):
        return GroupedTutorialCNN(nets)
    return ModelStack(nets)


@contextmanager
def kernels_in_use(kernels: Kernels) -> Iterator[None]:
    """Run the block with `kernels`' thread count and convolution library, then
    restore both."""
    threads = torch.get_num_threads()
    if kernels.threads is not None:
        torch.set_num_threads(kernels.threads)
    try:
        with torch.backends.mkldnn.flags(
            enabled=kernels.mkldnn,
            deterministic=None,
            allow_tf32=None,
            fp32_precision=None,
        ):
            yield
    finally:
        torch.set_num_threads(threads)


def train_nets(
    specs: Sequence[NetSpec],
    train_set: ImageSet,
    settings: TrainSettings,
    device: torch.device | str = "cpu",
    log_every: int = 2000,
    progress: Callable[[str], None] = print,
    processes: int | None = None,
    kernels: Kernels | None = None,
) -> list[TrainResult]:
    """Train one net per spec, all together, and return their weights and losses.

    Net k starts from `build_model(arch, init_seed_k)` and visits the training
    images in `data_order(order_seed_k)`; nothing else differs between nets.
    Every `log_every` mini-batches each net's running loss is reported as a
    `loss_line`, and after each epoch one summary row. `processes` and
    `kernels` override the measured choices of `plan_processes` and
    `choose_kernels`.
    """
    device = torch.device(device)
    groups = plan_processes(len(specs), device, processes)
    report = _Progress(specs, groups, settings.epochs, len(train_set), progress)
    images = images_to_device(train_set, torch.device("cpu"))  # (N, 3, H, W)
    labels = torch.from_numpy(train_set.labels)
    job = (train_set.n_classes, settings, log_every, kernels)

    start = time.perf_counter()
    if len(groups) == 1:
        data = (images.to(device), labels.to(device))
        outcomes = [_train_group(specs, *data, *job, device, report.sender(0))]
    else:
        outcomes = _run_workers(groups, specs, images, labels, job, report)
    seconds = time.perf_counter() - start

    results: dict[int, TrainResult] = {}
    for members, outcome in zip(groups, outcomes):
        for i, net in zip(members, outcome["nets"]):
            state = {k: torch.as_tensor(v) for k, v in net["state_dict"].items()}
            results[i] = TrainResult(
                specs[i], state, net["curve"], net["epoch_loss"], seconds
            )
            results[i].epoch_seconds = outcome["epoch_seconds"]
    return [results[i] for i in range(len(specs))]


def _train_group(
    specs, images, labels, n_classes, settings, log_every, kernels, device, emit
) -> dict:
    """Train the nets of `specs` together as one grouped model on `device`.

    Returns {"nets": [{"state_dict", "curve", "epoch_loss"} per spec],
    "epoch_seconds": [...]}; `emit(kind, payload)` reports loss lines and epochs.
    """
    kernels = kernels or choose_kernels(len(specs), device)
    nets = [build_model(settings.arch, s.init_seed, n_classes) for s in specs]
    memory_format = (
        torch.channels_last if kernels.channels_last else torch.contiguous_format
    )
    model = group_models(nets).to(device, memory_format=memory_format)
    optimizer = FlatSGD(model.parameters(), settings.lr, settings.momentum)
    orders = torch.stack(
        [data_order(s.order_seed, len(labels), settings.epochs) for s in specs], dim=1
    ).to(device)  # (epochs, K, N)

    steps = math.ceil(len(labels) / settings.batch_size)
    curves: list[list[tuple[int, float]]] = [[] for _ in specs]
    epoch_loss: list[list[float]] = [[] for _ in specs]
    epoch_seconds = []

    def on_log(epoch: int, step: int, losses: list[float]) -> None:
        for k, value in enumerate(losses):
            curves[k].append((epoch * steps + step, value))
            emit("loss", (k, epoch, step, value))

    stats = channel_stats(len(specs), device)
    step_args = (model, optimizer, images, labels, stats, memory_format)
    with kernels_in_use(kernels):
        for epoch in range(settings.epochs):
            start = time.perf_counter()
            losses = _train_epoch(
                step_args,
                orders[epoch],
                settings.batch_size,
                log_every,
                partial(on_log, epoch),
            )
            epoch_seconds.append(time.perf_counter() - start)
            for k, value in enumerate(losses):
                epoch_loss[k].append(value)
            emit("epoch", (epoch, losses, epoch_seconds[-1]))

    nets_out = [
        {"state_dict": state, "curve": curves[k], "epoch_loss": epoch_loss[k]}
        for k, state in enumerate(model.state_dicts())
    ]
    return {"nets": nets_out, "epoch_seconds": epoch_seconds}


def _train_epoch(step_args, order, batch, log_every, on_log) -> list[float]:
    """One pass of every net over its own image order (K, N); mean loss per net."""
    steps = math.ceil(order.shape[1] / batch)
    running = torch.zeros(order.shape[0], device=order.device)
    total = torch.zeros_like(running)
    for step in range(steps):
        index = order[:, step * batch : (step + 1) * batch]  # (K, B)
        running += _sgd_step(*step_args, index)
        if (step + 1) % log_every == 0:
            total += running
            on_log(step + 1, (running / log_every).tolist())
            running.zero_()
    return ((total + running) / steps).tolist()


def _sgd_step(model, optimizer, images, labels, stats, layout, index) -> torch.Tensor:
    """One SGD step of every net on its own batch; returns each net's loss (K,)."""
    n_nets, batch = index.shape
    x = normalize(batch_images(images, index), n_nets, stats)
    logits = model(x.contiguous(memory_format=layout))  # (K, B, C)
    losses = (
        F.cross_entropy(
            logits.reshape(n_nets * batch, -1),
            labels[index].reshape(-1),
            reduction="none",
        )
        .reshape(n_nets, batch)
        .mean(1)
    )
    optimizer.zero_grad()
    losses.sum().backward()  # nets share no weights: each gets its own gradient
    optimizer.step()
    return losses.detach()


class _Progress:
    """Loss lines and one row per epoch from the events of every group of nets,
    printed in the nets' order once every group has reported them."""

    def __init__(self, specs, groups, epochs, n_images, progress):
        self.names = [spec.name for spec in specs]
        self.groups, self.epochs, self.n_images = groups, epochs, n_images
        self.progress = progress
        self.losses: dict[tuple, dict[int, float]] = {}  # (epoch, step) -> net: loss
        self.epoch_ends: dict[int, dict[int, float]] = {}  # epoch -> group: seconds

    def sender(self, group: int) -> Callable[[str, tuple], None]:
        """The `emit` function of one group."""
        return lambda kind, payload: self.receive(group, kind, payload)

    def receive(self, group: int, kind: str, payload: tuple) -> None:
        members = self.groups[group]
        if kind == "loss":
            k, epoch, step, value = payload
            self._collect((epoch, step), {members[k]: value})
            return
        epoch, losses, seconds = payload
        self.epoch_ends.setdefault(epoch, {})[group] = seconds
        self._collect((epoch, None), dict(zip(members, losses)))

    def _collect(self, key: tuple, losses: dict[int, float]) -> None:
        done = self.losses.setdefault(key, {})
        done.update(losses)
        if len(done) < len(self.names):
            return
        del self.losses[key]
        epoch, step = key
        if step is not None:
            for i in sorted(done):
                self.progress(loss_line(epoch + 1, step, done[i], self.names[i]))
            return
        text = " ".join(f"{self.names[i]} {done[i]:.3f}" for i in sorted(done))
        seconds = max(self.epoch_ends.pop(epoch).values())
        self.progress(
            f"epoch {epoch + 1:>2}/{self.epochs} | mean loss {text} | "
            f"{seconds:7.1f} s | {self.n_images / seconds:8.0f} img/s per net"
        )


def _run_workers(groups, specs, images, labels, job, report: _Progress) -> list:
    """Train each group in its own process; their `_train_group` outcomes."""
    context = multiprocessing.get_context(START_METHOD)
    events = context.Queue()
    if START_METHOD != "fork":  # forked workers inherit the data; others map it
        images, labels = _shared(images), _shared(labels)
    workers = [
        context.Process(
            target=_worker,
            args=(group, [specs[i] for i in members], images, labels, job, events),
            daemon=True,
        )
        for group, members in enumerate(groups)
    ]
    for worker in workers:
        worker.start()
    try:
        return _collect(workers, events, report)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()


def _shared(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of `tensor` in shared memory, which worker processes map, not copy."""
    return torch.empty_like(tensor).share_memory_().copy_(tensor)


def _collect(workers, events, report: _Progress) -> list:
    """Relay the workers' events to `report` until each has sent its outcome."""
    outcomes: list = [None] * len(workers)
    while any(outcome is None for outcome in outcomes):
        try:
            group, kind, payload = events.get(timeout=WORKER_POLL_SECONDS)
        except queue.Empty:
            for group, worker in enumerate(workers):
                if worker.exitcode not in (None, 0):
                    raise RuntimeError(
                        f"training process {group} died (exit code {worker.exitcode})"
                    ) from None
            continue
        if kind == "error":
            raise RuntimeError(f"training process {group} failed:\n{payload}")
        if kind == "done":
            outcomes[group] = payload
        else:
            report.receive(group, kind, payload)
    return outcomes


def _worker(group, specs, images, labels, job, events) -> None:
    """A training process: train one group of nets on the CPU, send back the outcome."""
    # first of all: a forked child that starts a parallel region with the
    # parent's thread pool waits forever for threads it does not have
    torch.set_num_threads(1)

    def emit(kind: str, payload: tuple) -> None:
        events.put((group, kind, payload))

    try:
        cpu = torch.device("cpu")
        outcome = _train_group(specs, images, labels, *job, cpu, emit)
        for net in outcome["nets"]:  # plain arrays: no shared memory to outlive us
            net["state_dict"] = {k: v.numpy() for k, v in net["state_dict"].items()}
        events.put((group, "done", outcome))
    except BaseException:
        events.put((group, "error", traceback.format_exc()))


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
