"""Does training the same net twice give the same weights? `make repro-check`.

    python -m cifarstudy.repro                       defaults: 300 steps, auto device
    python -m cifarstudy.repro --device cuda --deterministic

Trains one net twice from the same init and order seeds for a few hundred SGD
steps and compares the weights: bitwise equal, equal within tolerance, or
different, with the reason (device, deterministic algorithms on or off). A
third net with another init seed shows that the comparison can tell nets apart.
Exit status 0 when the two runs agree bitwise or within tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import torch

from . import data
from .config import ParameterError, describe_choice, device_name, resolve_device
from .data import ImageSet
from .train import NetSpec, TrainSettings, train_nets

RTOL = 1e-5  # float32 sums taken in another order differ by a few ulps per step
ATOL = 1e-6
# cuBLAS needs a fixed workspace to be deterministic (PyTorch reproducibility notes)
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True)
class Comparison:
    """How two state dicts of the same architecture compare."""

    verdict: str  # "bitwise equal", "equal within tolerance" or "different"
    max_abs_diff: float  # largest |a - b| over all weights
    differing: int  # tensors that are not bitwise equal
    tensors: int


def compare_weights(a: dict, b: dict, rtol=RTOL, atol=ATOL) -> Comparison:
    """Compare two state dicts tensor by tensor; the verdict and largest difference."""
    if a.keys() != b.keys():
        raise ValueError("the state dicts hold different tensors")
    bitwise = [torch.equal(a[k], b[k]) for k in a]
    close = all(torch.allclose(a[k], b[k], rtol=rtol, atol=atol) for k in a)
    max_abs_diff = max((a[k] - b[k]).abs().max().item() for k in a)
    verdict = (
        "bitwise equal"
        if all(bitwise)
        else "equal within tolerance"
        if close
        else "different"
    )
    return Comparison(verdict, max_abs_diff, bitwise.count(False), len(a))


def subset(image_set: ImageSet, n: int) -> ImageSet:
    """The first `n` images of `image_set` (all of them if it holds fewer)."""
    return ImageSet(
        image_set.name,
        image_set.images[:n],
        image_set.labels[:n],
        image_set.classes,
    )


def train_weights(spec, train_set, settings, device) -> dict[str, torch.Tensor]:
    """The weights of one net after one pass over `train_set`, on the CPU."""
    (result,) = train_nets([spec], train_set, settings, device, progress=_quiet)
    return result.state_dict


def _quiet(line: str) -> None:
    pass


def set_deterministic(on: bool) -> None:
    """Switch PyTorch's deterministic algorithms and cuDNN's matching flags."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False


def explain(comparison: Comparison, device: torch.device) -> str:
    """Why two runs on `device` with the current settings compare as they do."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    flags = (
        f"deterministic algorithms {'on' if deterministic else 'off'}, "
        f"cuDNN benchmark {'on' if torch.backends.cudnn.benchmark else 'off'}"
    )
    fixed_order = device.type == "cpu" or deterministic
    if comparison.verdict == "bitwise equal" and fixed_order:
        why = "every kernel took its sums in the same order both times" + (
            f" ({torch.get_num_threads()} CPU threads)" if device.type == "cpu" else ""
        )
    elif comparison.verdict == "bitwise equal":
        why = (
            "the kernels used here happened to sum in the same order; with "
            "deterministic algorithms off that is not guaranteed"
        )
    elif fixed_order:
        why = (
            "not expected with kernels that sum in a fixed order: some operation "
            "here depends on timing or threads; report it with this output"
        )
    else:
        why = (
            "with deterministic algorithms off, GPU kernels may add partial sums "
            "in a different order on each run (atomic adds in the backward pass), "
            "and SGD carries the rounding on; rerun with --deterministic"
        )
    return f"{device.type} ({device_name(device)}), {flags}: {why}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cifarstudy.repro",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--steps", type=int, default=300, help="SGD steps per run")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step")
    parser.add_argument("--dataset", default="synthetic", help="synthetic or cifar10")
    parser.add_argument("--data-root", default="data", help="where cifar10 is read")
    parser.add_argument("--seed", type=int, default=0, help="init and order seed")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="turn on torch.use_deterministic_algorithms (off by default, as in "
        "the notebooks)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1")
    try:
        device = resolve_device(args.device)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    set_deterministic(args.deterministic)
    return report(args, device)


def report(args, device: torch.device) -> int:
    """Train twice (and a control), print the verdict and why; the exit status."""
    full = data.load(args.dataset, "train", args.data_root, download=False)
    train_set = subset(full, args.steps * args.batch_size)
    settings = TrainSettings(epochs=1, batch_size=args.batch_size, lr=0.01)
    spec = NetSpec(args.seed, args.seed)
    steps = -(-len(train_set) // args.batch_size)
    print(
        f"training {settings.arch} twice for {steps} steps of {args.batch_size} "
        f"{train_set.name} images, seeds {args.seed}, on "
        f"{describe_choice(args.device, device.type)}"
    )
    first = train_weights(spec, train_set, settings, device)
    second = train_weights(spec, train_set, settings, device)
    result = compare_weights(first, second)
    control = NetSpec(args.seed + 1, args.seed)
    other = compare_weights(first, train_weights(control, train_set, settings, device))

    print(
        f"weights: {result.verdict} ({result.differing} of {result.tensors} tensors "
        f"differ bitwise, max |difference| {result.max_abs_diff:.3g}, "
        f"tolerance rtol {RTOL:g} atol {ATOL:g})"
    )
    print(f"why: {explain(result, device)}")
    print(
        f"control: init seed {control.init_seed} instead of {args.seed}: "
        f"{other.verdict} (max |difference| {other.max_abs_diff:.3g})"
    )
    return 1 if result.verdict == "different" else 0


if __name__ == "__main__":
    sys.exit(main())
