"""Training and evaluation speed: a seed-notebook loop against cifarstudy's engine.

    python benchmarks/bench_engine.py                  synthetic CIFAR-sized data
    python benchmarks/bench_engine.py --data-root data real CIFAR-10 when prepared
    make bench [DATA_ROOT=data]

Every configuration runs in a fresh Python process, so each has its own peak
memory and none inherits another's warm caches. The configurations compared in
one table take turns for `--rounds` rounds and each shows its best: other work
on a shared machine then slows all of them alike rather than whichever ran at
the wrong moment. Training runs
the reference protocol (batch 4, SGD lr 0.001, momentum 0.9) on the first
`--images` training images:

- seed-style: the PyTorch CIFAR-10 tutorial loop as the seed notebooks ran it, a
  torch Dataset serving PIL images from the uint8 arrays (as
  torchvision.datasets.CIFAR10 does) through ToTensor and Normalize, a
  DataLoader with 2 workers, one net after another. One epoch per net, timed
  from its first batch on, so the DataLoader's start is not counted.
- engine: `cifarstudy.train.train_nets`, two epochs, the second one timed; its
  one-time start (worker processes, models) is shown apart.

The ceiling rows bound what any engine doing the same arithmetic could reach
here: the floating-point work of one training image (forward and backward, as
torch.utils.flop_counter counts it) against one core's best fp32 rate on a
large matrix product, the fastest arithmetic this CPU does, times the usable
cores. Beside it: the rate the engine reaches, and the rate of the grouped
convolutions alone, the kernels where most of a step goes.

The design rows time the alternatives that the engine's choices were measured
against. Peak memory is the largest proportional set size (PSS) of the process
and its workers while a configuration runs, and on a GPU the largest memory
torch allocated there. Speeds are for these short runs only; nothing is
extrapolated to full trainings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import torch

from cifarstudy import data, predict, train
from cifarstudy.config import resolve_device
from cifarstudy.models import build_model

SETTINGS = train.TrainSettings(epochs=1, batch_size=4, lr=0.001, momentum=0.9)
ENGINE_EPOCHS = 2  # the first warms up; the second is timed
NET_COUNTS = (1, 2, 8)
TUTORIAL_WORKERS = 2  # the tutorial's DataLoader num_workers
TUTORIAL_EVAL_BATCH = 4  # the tutorial's test loader batch size
EVAL_IMAGES = 10_000  # a CIFAR test set's worth
# training images per net: the seed-style loop's first batches run faster than
# the rest (runs of 1,000 images timed it at 620-765 img/s per net, runs of
# 4,000 just before at 580-610), and longer runs weigh them less
TRAIN_IMAGES = 4000
KIB_PER_MIB = 1024
MEMORY_SAMPLE_SECONDS = 0.25  # reading PSS costs ~1 ms: sample sparingly


# --- the configurations, each run in its own process -----------------------


def seed_style_dataset(image_set: data.ImageSet):
    """The images as torchvision's CIFAR10 serves them: PIL, then transforms."""
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose(
        [
            transforms.ToTensor(),
            transforms.Normalize(data.NORMALIZE_MEAN, data.NORMALIZE_STD),
        ]
    )

    class SeedStyleCIFAR(torch.utils.data.Dataset):
        def __len__(self):
            return len(image_set)

        def __getitem__(self, i):
            image = Image.fromarray(image_set.images[i])
            return transform(image), int(image_set.labels[i])

    return SeedStyleCIFAR()


def seed_style_training(train_set, n_nets: int, device) -> dict:
    """The tutorial loop, one net after another; images/s per net after batch 1."""
    loader = torch.utils.data.DataLoader(
        seed_style_dataset(train_set),
        batch_size=SETTINGS.batch_size,
        shuffle=True,
        num_workers=TUTORIAL_WORKERS,
    )
    criterion = torch.nn.CrossEntropyLoss()
    timed_images, timed_seconds = 0, 0.0
    for seed in range(n_nets):
        net = build_model(SETTINGS.arch, seed, train_set.n_classes).to(device)
        optimizer = torch.optim.SGD(
            net.parameters(), lr=SETTINGS.lr, momentum=SETTINGS.momentum
        )
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(loader):
            if i == 1:  # the first batch carries the workers' start
                start = time.perf_counter()
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        timed_seconds += time.perf_counter() - start
        timed_images += len(train_set) - SETTINGS.batch_size
    return {"img_s_per_net": timed_images / timed_seconds}


def engine_training(train_set, n_nets: int, device, processes=None, kernels=None):
    """cifarstudy's engine; images/s per net in the second epoch, start seconds."""
    settings = train.TrainSettings(
        epochs=ENGINE_EPOCHS,
        batch_size=SETTINGS.batch_size,
        lr=SETTINGS.lr,
        momentum=SETTINGS.momentum,
    )
    specs = [train.NetSpec(seed, seed) for seed in range(n_nets)]
    results = train.train_nets(
        specs,
        train_set,
        settings,
        device,
        log_every=len(train_set),
        progress=lambda line: None,
        processes=processes,
        kernels=kernels,
    )
    epoch_seconds = results[0].epoch_seconds
    return {
        "img_s_per_net": len(train_set) / epoch_seconds[-1],
        "start_s": results[0].train_seconds - sum(epoch_seconds),
    }


def per_image_eval(test_set, device) -> dict:
    """One image at a time, PIL and transforms as in a seed notebook."""
    dataset = seed_style_dataset(test_set)
    net = build_model(SETTINGS.arch, 0, test_set.n_classes).to(device).eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(len(dataset)):
            image, _ = dataset[i]
            net(image[None].to(device)).cpu()
    return {"img_s": len(dataset) / (time.perf_counter() - start)}


def tutorial_eval(test_set, device) -> dict:
    """The tutorial's test loop: DataLoader of batch 4 with 2 workers."""
    loader = torch.utils.data.DataLoader(
        seed_style_dataset(test_set),
        batch_size=TUTORIAL_EVAL_BATCH,
        num_workers=TUTORIAL_WORKERS,
    )
    net = build_model(SETTINGS.arch, 0, test_set.n_classes).to(device).eval()
    start = time.perf_counter()
    with torch.no_grad():
        for images, _ in loader:
            net(images.to(device)).cpu()
    return {"img_s": len(test_set) / (time.perf_counter() - start)}


def batched_eval(test_set, device, threads=None) -> dict:
    """cifarstudy.predict.predict_logits, on `threads` threads if given."""
    net = build_model(SETTINGS.arch, 0, test_set.n_classes).to(device).eval()
    kernels = None  # the measured choice
    if threads is not None:
        kernels = train.Kernels(channels_last=True, mkldnn=True, threads=threads)
    start = time.perf_counter()
    predict.predict_logits(net, test_set, kernels=kernels)
    return {"img_s": len(test_set) / (time.perf_counter() - start)}


def training_flops_per_image(n_classes=10, convolutions_only=False) -> float:
    """Floating-point operations of one image's SGD step: forward and backward
    of the tutorial CNN on a batch of the protocol's size, per image; of its
    convolutions only if `convolutions_only`."""
    from torch.utils.flop_counter import FlopCounterMode

    net = build_model(SETTINGS.arch, 0, n_classes)
    x = torch.zeros(SETTINGS.batch_size, 3, 32, 32)
    y = torch.zeros(SETTINGS.batch_size, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    counts = counter.get_flop_counts()["Global"]
    if convolutions_only:
        counts = {op: n for op, n in counts.items() if "convolution" in str(op)}
    return sum(counts.values()) / SETTINGS.batch_size


def best_rate(run, work: float, seconds: float = 1.0) -> float:
    """The best rate of `run()`, in `work` (FLOP, images) done by each call per
    second, over calls for `seconds`."""
    for _ in range(3):  # warm-up: kernel choice, caches
        run()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        best = max(best, work / (time.perf_counter() - start))
    return best


def matmul_peak(size: int = 1024) -> dict:
    """One core's fp32 rate on a large matrix product, FLOP/s."""
    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    return {"flop_s": best_rate(lambda: a @ b, 2.0 * size**3, seconds=2.0)}


def grouped_conv_rate(n_nets: int) -> dict:
    """FLOP/s of the convolutions of one training step of `n_nets` grouped nets
    (forward and backward of conv1 and conv2, as the engine runs them on a CPU:
    channels-last oneDNN, one thread)."""
    torch.set_num_threads(1)
    batch, layout = SETTINGS.batch_size, torch.channels_last
    nets = [build_model(SETTINGS.arch, seed) for seed in range(n_nets)]
    model = train.GroupedTutorialCNN(nets).to(memory_format=layout)
    layers = []
    for name, channels, size in (("conv1", 3, 32), ("conv2", 6, 14)):
        x = torch.randn(batch, channels * n_nets, size, size)
        x = x.to(memory_format=layout).requires_grad_(name != "conv1")
        weight, bias = getattr(model, f"{name}_weight"), getattr(model, f"{name}_bias")
        out = torch.nn.functional.conv2d(x, weight, bias, groups=n_nets)
        layers.append((x, weight, bias, torch.randn_like(out)))

    def step():
        for x, weight, bias, grad in layers:
            torch.nn.functional.conv2d(x, weight, bias, groups=n_nets).backward(grad)

    # torch's counter miscounts grouped backward convolutions: count one net's
    flops = n_nets * batch * training_flops_per_image(convolutions_only=True)
    with torch.backends.mkldnn.flags(enabled=True):
        return {"flop_s": best_rate(step, flops)}


def conv_as_matmul_rate(n_nets: int) -> dict:
    """FLOP/s of the same convolution arithmetic as batched matrix products on
    already unfolded patches (im2col), one thread: what a convolution written
    as matrix products could reach at best, the unfolding itself not counted."""
    torch.set_num_threads(1)
    groups = n_nets * SETTINGS.batch_size  # one product per (net, image)
    products = []
    for c_in, c_out, size, input_grad in ((3, 6, 28, False), (6, 16, 10, True)):
        patches = torch.randn(groups, c_in * 25, size * size)
        weight = torch.randn(groups, c_out, c_in * 25)
        grad = torch.randn(groups, c_out, size * size)
        products += [(weight, patches), (grad, patches.transpose(1, 2))]
        if input_grad:
            products.append((weight.transpose(1, 2), grad))

    def step():
        for a, b in products:
            torch.bmm(a, b)

    flops = groups * training_flops_per_image(convolutions_only=True)
    return {"flop_s": best_rate(step, flops)}


def sgd_update_rate(n_nets: int) -> dict:
    """Training images per second of the engine's SGD update alone: zeroing the
    gradients and one momentum step of `n_nets` grouped nets, one thread."""
    torch.set_num_threads(1)
    nets = [build_model(SETTINGS.arch, seed) for seed in range(n_nets)]
    model = train.GroupedTutorialCNN(nets).to(memory_format=torch.channels_last)
    optimizer = train.FlatSGD(model.parameters(), SETTINGS.lr, SETTINGS.momentum)

    def update():
        optimizer.zero_grad()
        optimizer.step()

    return {"img_s": best_rate(update, n_nets * SETTINGS.batch_size)}


MEASURES = {
    "seed_train": lambda sets, c, dev: seed_style_training(sets[0], c["nets"], dev),
    "engine_train": lambda sets, c, dev: engine_training(
        sets[0],
        c["nets"],
        dev,
        c.get("processes"),
        train.Kernels(*c["kernels"]) if "kernels" in c else None,
    ),
    "per_image_eval": lambda sets, c, dev: per_image_eval(sets[2], dev),
    "tutorial_eval": lambda sets, c, dev: tutorial_eval(sets[2], dev),
    "batched_eval": lambda sets, c, dev: batched_eval(sets[1], dev, c.get("threads")),
}
ARITHMETIC = {  # the ceiling's measures: CPU arithmetic alone, no data read
    "matmul_peak": lambda c: matmul_peak(),
    "grouped_conv": lambda c: grouped_conv_rate(c["nets"]),
    "conv_as_matmul": lambda c: conv_as_matmul_rate(c["nets"]),
    "sgd_update": lambda c: sgd_update_rate(c["nets"]),
}


def load_sets(data_root: str | None, n_train: int, n_eval: int):
    """(training head, evaluation set, its head for the seed-style loops)."""
    if data_root is None:
        train_set, test = data.synthetic("train"), data.synthetic("test")
        reps = -(-EVAL_IMAGES // len(test))  # tile to a CIFAR test set's size
        test = data.ImageSet(
            f"{test.name} x{reps}",
            np.tile(test.images, (reps, 1, 1, 1))[:EVAL_IMAGES],
            np.tile(test.labels, reps)[:EVAL_IMAGES],
            test.classes,
        )
    else:
        prepared = data.prepared_path(Path(data_root), "cifar10", "train")
        if not prepared.exists():
            sys.exit(f"no prepared CIFAR-10 arrays: {prepared} is missing")
        root = Path(data_root)
        train_set = data.load("cifar10", "train", root, download=False)
        test = data.load("cifar10", "test", root, download=False)
    return head(train_set, n_train), test, head(test, n_eval)


def head(image_set: data.ImageSet, n: int) -> data.ImageSet:
    return data.ImageSet(
        image_set.name, image_set.images[:n], image_set.labels[:n], image_set.classes
    )


class PeakMemory:
    """The largest memory of this process and its descendants (DataLoader or
    engine workers) while the block runs, sampled in a thread.

    Memory is the proportional set size (PSS): pages shared by several processes,
    as forked workers share their parent's, are split between them, so the sum
    over the processes counts each page once.
    """

    def __init__(self):
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            total = sum(pss_kib(pid) for pid in process_tree(os.getpid()))
            self.peak_mib = max(self.peak_mib, total / KIB_PER_MIB)
            if self._stop.wait(MEMORY_SAMPLE_SECONDS):
                return


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant of it (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        found.append(parent)
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                pending += [int(child) for child in children.read_text().split()]
            except OSError:  # the process ended meanwhile
                pass
    return found


def pss_kib(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # ended meanwhile, or not Linux
        return 0
    return next(
        int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
    )


def measure(config: dict, args) -> dict:
    """Run one configuration here; its figures and its peak memory."""
    device, kind = torch.device(args.device), config["kind"]
    if kind in ARITHMETIC:
        with PeakMemory() as memory:
            result = ARITHMETIC[kind](config)
    else:
        sets = load_sets(args.data_root, args.images, args.eval_images)
        with PeakMemory() as memory:
            result = MEASURES[kind](sets, config, device)
    result["pss_mib"] = memory.peak_mib
    if device.type == "cuda":
        result["cuda_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def run_isolated(config: dict, args) -> dict:
    """`measure(config)` in a fresh Python process."""
    command = [sys.executable, __file__, "--measure", json.dumps(config)]
    command += ["--device", args.device, "--images", str(args.images)]
    command += ["--eval-images", str(args.eval_images)]
    if args.data_root:
        command += ["--data-root", args.data_root]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{config} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table ---------------------------------------------------------------


def memory(result: dict) -> str:
    text = f"{result['pss_mib']:.0f}"
    if "cuda_mib" in result:
        text += f", GPU {result['cuda_mib']:.0f}"
    return text


def best_of(configs: list[dict], args) -> list[dict]:
    """Each configuration's best speed and largest memory over `args.rounds`
    rounds, the configurations taking turns so that all see the same load."""
    runs = [[run_isolated(c, args) for c in configs] for _ in range(args.rounds)]
    best = []
    for results in zip(*runs):
        speed = max(results, key=speed_of)
        best.append({**speed, "pss_mib": max(r["pss_mib"] for r in results)})
    return best


def speed_of(result: dict) -> float:
    for name in ("img_s_per_net", "img_s", "flop_s"):
        if name in result:
            return result[name]
    raise KeyError(f"no speed in {result}")


def training_table(args) -> tuple[list[str], tuple]:
    """The table's rows, and (nets, seed-style, engine) of its last row."""
    rows = [
        f"training, batch {SETTINGS.batch_size}, SGD lr {SETTINGS.lr} momentum "
        f"{SETTINGS.momentum}, {args.images} images per net",
        f"{'nets':>4} | {'seed-style':>10} | {'engine':>8} | {'speed-up':>8} | "
        f"{'engine start':>12} | {'engine design':<37} | peak MiB seed / engine",
        "-" * 118,
    ]
    for n_nets in NET_COUNTS:
        seed, engine = best_of(
            [
                {"kind": "seed_train", "nets": n_nets},
                {"kind": "engine_train", "nets": n_nets},
            ],
            args,
        )
        measured = (n_nets, seed, engine)
        rows.append(
            f"{n_nets:>4} | {seed['img_s_per_net']:>10.0f} | "
            f"{engine['img_s_per_net']:>8.0f} | "
            f"{engine['img_s_per_net'] / seed['img_s_per_net']:>7.1f}x | "
            f"{engine['start_s']:>10.1f} s | {design(n_nets, args.device):<37} | "
            f"{memory(seed)} / {memory(engine)}"
        )
    rows.append("(img/s per net; peak memory: PSS of the process and its workers)")
    return rows, measured


def ceiling_table(args, measured: tuple) -> list[str]:
    """The most `n_nets` nets could reach here at the CPU's best arithmetic rate,
    against what the seed-style loop and the engine reached."""
    if args.device != "cpu":
        return []
    n_nets, seed, engine = measured
    flops = training_flops_per_image()
    cores = train.usable_cores()
    per_process = len(train.plan_processes(n_nets, torch.device("cpu"))[0])
    peak, convs, matmuls, sgd = best_of(
        [
            {"kind": "matmul_peak"},
            {"kind": "grouped_conv", "nets": per_process},
            {"kind": "conv_as_matmul", "nets": per_process},
            {"kind": "sgd_update", "nets": per_process},
        ],
        args,
    )
    peak, convs, matmuls = peak["flop_s"], convs["flop_s"], matmuls["flop_s"]
    sgd = 1 / sgd["img_s"]  # seconds per image
    ceiling = cores * peak / flops / n_nets  # img/s per net
    conv_flops = training_flops_per_image(convolutions_only=True)
    conv_bound = cores * convs / conv_flops / n_nets
    matmul_bound = cores * matmuls / conv_flops / n_nets
    sgd_bound = cores / (conv_flops / matmuls + sgd) / n_nets
    seed_rate, engine_rate = seed["img_s_per_net"], engine["img_s_per_net"]

    def share(img_s_per_net: float) -> str:
        rate = img_s_per_net * n_nets * flops
        return f"{rate / 1e9:.1f} GFLOP/s, {rate / (cores * peak):.0%} of the peak"

    rows = [
        (
            "arithmetic of one training image (forward, backward)",
            f"{flops / 1e6:.2f} MFLOP",
        ),
        (
            "fp32 matrix product 1024 x 1024, one core",
            f"{peak / 1e9:.1f} GFLOP/s; {cores} cores: {cores * peak / 1e9:.1f}",
        ),
        (
            f"{n_nets} nets at that peak",
            f"{ceiling:.0f} img/s per net, {ceiling / seed_rate:.1f}x the seed-style",
        ),
        (f"{n_nets} nets at 8x the seed-style loop need", share(8 * seed_rate)),
        (f"the engine, {n_nets} nets", share(engine_rate)),
        (
            f"its grouped convolutions alone ({per_process} nets, one core)",
            f"{convs / 1e9:.1f} GFLOP/s, {convs / peak:.0%} of one core's peak",
        ),
        (
            "the same arithmetic as matrix products (im2col not counted)",
            f"{matmuls / 1e9:.1f} GFLOP/s, {matmuls / peak:.0%} of one core's peak",
        ),
        (
            f"{n_nets} nets if all but their convolutions took no time",
            f"{conv_bound:.0f} img/s per net, {conv_bound / seed_rate:.1f}x the "
            "seed-style",
        ),
        (
            "... and if they ran as those matrix products",
            f"{matmul_bound:.0f} img/s per net, {matmul_bound / seed_rate:.1f}x the "
            "seed-style",
        ),
        (
            f"the engine's SGD update alone ({per_process} nets, one core)",
            f"{sgd * 1e6:.1f} us per image",
        ),
        (
            f"{n_nets} nets: those products, that update, nothing else",
            f"{sgd_bound:.0f} img/s per net, {sgd_bound / seed_rate:.1f}x the "
            "seed-style",
        ),
    ]
    return [
        f"ceiling for {n_nets} nets on this CPU: every image's arithmetic done at "
        "the CPU's best fp32 rate",
        "-" * 118,
    ] + [f"{label:<60} | {value}" for label, value in rows]


def design(n_nets: int, device: str) -> str:
    groups = train.plan_processes(n_nets, torch.device(device))
    kernels = train.choose_kernels(len(groups[0]), torch.device(device))
    layout = "channels-last" if kernels.channels_last else "NCHW"
    library = "oneDNN" if kernels.mkldnn else "native"
    return f"{len(groups)} proc x {len(groups[0])} net, {layout} {library}"


DESIGNS = {  # per net count: the chosen design first, then its alternatives
    1: [
        ("1 thread, NCHW native (chosen)", {}),
        ("2 threads, NCHW native", {"kernels": [False, False, 2]}),
        ("1 thread, channels-last oneDNN", {"kernels": [True, True, 1]}),
    ],
    2: [
        ("2 processes x 1 net (chosen)", {}),
        ("1 process, grouped, channels-last oneDNN", {"processes": 1}),
    ],
    8: [
        ("2 processes x 4 nets (chosen)", {}),
        ("1 process, grouped, channels-last oneDNN", {"processes": 1}),
    ],
}


def design_table(args) -> list[str]:
    if args.device != "cpu":
        return []  # the alternatives are CPU process and kernel choices
    rows = ["engine designs on this machine (img/s per net)", "-" * 62]
    for n_nets, designs in DESIGNS.items():
        configs = [{"kind": "engine_train", "nets": n_nets, **c} for _, c in designs]
        for (label, _), result in zip(designs, best_of(configs, args)):
            rows.append(
                f"{n_nets} net{'s' if n_nets > 1 else ' '}: {label:<42} | "
                f"{result['img_s_per_net']:>6.0f}"
            )
    return rows


EVALS = [
    ("per image (PIL transforms, batch 1)", {"kind": "per_image_eval"}),
    ("tutorial loop (DataLoader, batch 4, 2 workers)", {"kind": "tutorial_eval"}),
    ("cifarstudy batched (chosen: 1 thread)", {"kind": "batched_eval"}),
    ("cifarstudy batched, 2 threads", {"kind": "batched_eval", "threads": 2}),
]


def eval_table(args) -> list[str]:
    rows = [
        f"evaluation, one net: seed-style loops on {args.eval_images} test images, "
        f"cifarstudy on {EVAL_IMAGES} in batches of {predict.EVAL_BATCH}",
        f"{'':<48} | {'img/s':>8} | peak MiB",
        "-" * 75,
    ]
    results = best_of([config for _, config in EVALS], args)
    for (label, _), result in zip(EVALS, results):
        rows.append(f"{label:<48} | {result['img_s']:>8.0f} | {memory(result)}")
    return rows


def environment(args) -> list[str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln for ln in cpuinfo.read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    source = f"real CIFAR-10 from {args.data_root}" if args.data_root else "synthetic"
    return [
        f"date      {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"torch     {torch.__version__}, {torch.get_num_threads()} threads by default",
        f"python    {platform.python_version()}",
        f"cpu       {cpu}, {train.usable_cores()} usable cores",
        f"device    {args.device}",
        f"data      {source}, CIFAR-sized",
        f"load      {load_average()} (1, 5, 15 min) at start",
    ]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", help="use DATA_ROOT/prepared/cifar10-*.npz")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--images",
        type=int,
        default=TRAIN_IMAGES,
        help=f"per net, training (default {TRAIN_IMAGES})",
    )
    parser.add_argument(
        "--eval-images", type=int, default=2000, help="seed-style evaluation"
    )
    parser.add_argument("--rounds", type=int, default=2, help="best of this many")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device).type
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure), args)))
        return 0

    start = time.perf_counter()
    lines = environment(args) + [""]
    print("\n".join(lines), flush=True)
    rows, measured = training_table(args)
    print("\n".join(rows + [""]), flush=True)
    ceiling = partial(ceiling_table, measured=measured)
    for table in (ceiling, design_table, eval_table):
        rows = table(args)
        if rows:
            print("\n".join(rows + [""]), flush=True)
    seconds = time.perf_counter() - start
    print(
        f"load      {load_average()} (1, 5, 15 min) at the end, after {seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
