"""The parameters of every study: one typed, validated, frozen schema.

Notebooks declare their parameters as plain variables in the cell tagged
`parameters` (papermill injects new values after it) and then build a
`StudyConfig` from them, which refuses a wrong type or an out-of-range value
with one message naming the parameter, its value and what is allowed.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import logging
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .models import ARCHITECTURES
from .train import NetSpec, TrainSettings

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
# papermill opens the cell it injects after the `parameters` cell with this line
INJECTED_HEADER = "# Parameters"


class ParameterError(ValueError):
    """A parameter has a wrong type or value; the message says which and why."""


def check(name, value, kind, allowed=None, minimum=None, maximum=None):
    """Raise ParameterError unless `value` is a `kind` within the given bounds."""
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ParameterError(f"{name} = {value!r}: must be {kind.__name__}")
    if kind is float and not math.isfinite(value):
        raise ParameterError(f"{name} = {value!r}: must be a finite number")
    if allowed is not None and value not in allowed:
        raise ParameterError(f"{name} = {value!r}: must be one of {', '.join(allowed)}")
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name} = {value!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"{name} = {value!r}: must be <= {maximum}")


def _check_seeds(name: str, value: Any) -> tuple[int, ...]:
    """`value` as a tuple of seeds; refuses all but a non-empty list of int >= 0."""
    seeds = value if isinstance(value, list | tuple) else ()
    if not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ):
        shown = list(value) if isinstance(value, tuple) else value
        raise ParameterError(
            f"{name} = {shown!r}: must be a non-empty list of int >= 0, "
            f"one seed per net"
        )
    return tuple(seeds)


def unknown_parameter(name: str, value: Any, allowed: set[str]) -> ParameterError:
    """The error for a parameter no schema declares, with the closest known name."""
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ParameterError(
        f"{name} = {value!r}: unknown parameter{hint}; "
        f"allowed: {', '.join(sorted(allowed))}"
    )


def injected_names(namespace: dict[str, Any]) -> list[str]:
    """Names assigned in the cell papermill injected, read from IPython's history.

    IPython keeps the source of every executed cell in the list `In`; papermill
    opens the cell it injects with INJECTED_HEADER. Outside IPython: [].
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return []
    for source in reversed(history):
        if isinstance(source, str) and source.startswith(INJECTED_HEADER + "\n"):
            tree = ast.parse(source)
            return [
                node.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
            ]
    return []


@dataclass(frozen=True)
class StudyConfig:
    """Every parameter a study notebook accepts, with the reference defaults."""

    # the nets: net i is built from init_seeds[i] and sees data in order_seeds[i]
    init_seeds: tuple[int, ...] = (0, 1)  # weight-initialisation seed per net
    order_seeds: tuple[int, ...] = (0, 1)  # data-order seed per net
    arch: str = "tutorial_cnn"  # model architecture
    # training: the PyTorch CIFAR-10 tutorial protocol
    epochs: int = 5  # passes over the training set
    batch_size: int = 4  # images per SGD step
    lr: float = 0.001  # SGD learning rate
    momentum: float = 0.9  # SGD momentum
    log_every: int = 2000  # mini-batches between running-loss lines
    # where things run and live
    device: str = "auto"  # auto, cpu, cuda or mps
    dataset: str = "cifar10"  # cifar10, or synthetic for a quick run
    data_root: str = "data"  # where datasets are read, downloaded and prepared
    download: bool = True  # try torchvision's download when data is missing
    cache_dir: str = "runs/cache"  # trained weights and logits, shared by notebooks
    run_dir: str = ""  # report folder; empty: a new dated folder under runs/
    # confidence study
    samples_per_class: int = 100  # test images drawn per class
    sample_seed: int = 0  # seed of that draw
    calibration_bins: int = 15  # equal-width confidence bins for ECE
    # out-of-distribution study
    noise_images: int = 100  # noise images per noise kind
    noise_std: float = 1.0  # std of Gaussian noise, in normalised input space
    noise_seed: int = 0  # seed of the noise images
    extremes: int = 5  # CIFAR-100 classes shown at each end of the entropy order

    def __post_init__(self):
        for name in ("init_seeds", "order_seeds"):
            object.__setattr__(self, name, _check_seeds(name, getattr(self, name)))
        if len(self.init_seeds) != len(self.order_seeds):
            raise ParameterError(
                f"init_seeds = {list(self.init_seeds)} and order_seeds = "
                f"{list(self.order_seeds)}: must have one seed per net each"
            )
        check("arch", self.arch, str, allowed=tuple(ARCHITECTURES))
        check("dataset", self.dataset, str, allowed=("cifar10", "synthetic"))
        check("device", self.device, str, allowed=DEVICES)
        for name in (
            "epochs",
            "batch_size",
            "log_every",
            "samples_per_class",
            "calibration_bins",
            "noise_images",
            "extremes",
        ):
            check(name, getattr(self, name), int, minimum=1)
        for name in ("sample_seed", "noise_seed"):
            check(name, getattr(self, name), int, minimum=0)
        check("lr", self.lr, float, minimum=0.0)
        check("momentum", self.momentum, float, minimum=0.0, maximum=1.0)
        check("noise_std", self.noise_std, float, minimum=0.0)
        check("download", self.download, bool)
        for name in ("data_root", "cache_dir", "run_dir"):
            check(name, getattr(self, name), str)
        if self.lr == 0:
            raise ParameterError("lr = 0: must be > 0")
        for name in ("data_root", "cache_dir", "run_dir"):
            if getattr(self, name) and self.path(name).is_file():
                raise ParameterError(
                    f"{name} = {getattr(self, name)!r}: is a file "
                    f"({self.path(name)}); must be a folder"
                )

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> StudyConfig:
        """The config from a notebook's variables; absent names keep their defaults.

        Pass `globals()` right after the parameters: a name papermill injected
        that no field declares is refused (papermill itself only warns).
        """
        names = {f.name for f in fields(cls)}
        for name in injected_names(namespace):
            if name not in names:
                raise unknown_parameter(name, namespace.get(name), names)
        values = {name: namespace[name] for name in names if name in namespace}
        if isinstance(values.get("device"), torch.device):
            # the setup cell run again: `device` now holds the resolved device
            values["device"] = values["device"].type
        return cls(**values)

    def require_nets(self, minimum: int) -> None:
        """Refuse a config with fewer than `minimum` nets (agreement needs two)."""
        if len(self.init_seeds) < minimum:
            raise ParameterError(
                f"init_seeds = {list(self.init_seeds)}: this study "
                f"needs at least {minimum} nets"
            )

    def replace(self, **changes) -> StudyConfig:
        return dataclasses.replace(self, **changes)

    @property
    def net_specs(self) -> list[NetSpec]:
        """One spec per net, labelled a, b, c, ..."""
        labels = [
            chr(ord("a") + i) if i < 26 else f"net{i}"
            for i in range(len(self.init_seeds))
        ]
        return [
            NetSpec(i, o, label)
            for i, o, label in zip(self.init_seeds, self.order_seeds, labels)
        ]

    @property
    def train_settings(self) -> TrainSettings:
        return TrainSettings(
            self.arch, self.epochs, self.batch_size, self.lr, self.momentum
        )

    @property
    def ood_dataset(self) -> str:
        """The dataset of unseen classes: CIFAR-100, or its synthetic stand-in."""
        return "cifar100" if self.dataset == "cifar10" else "synthetic100"

    def path(self, name: str) -> Path:
        """`data_root`, `cache_dir` or `run_dir` resolved against the project root."""
        value = Path(getattr(self, name)).expanduser()
        return value if value.is_absolute() else project_root() / value

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for name in ("init_seeds", "order_seeds"):
            out[name] = list(out[name])
        return out


def project_root(start: Path | None = None) -> Path:
    """The checkout holding this project (notebooks run from `notebooks/` or the
    root); outside a checkout, such as on Colab, the working directory."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return start


def available_devices() -> list[str]:
    """The device types present here, best first: cuda, mps, then cpu."""
    has_mps = getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    return [
        *(["cuda"] if torch.cuda.is_available() else []),
        *(["mps"] if has_mps else []),
        "cpu",
    ]


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda, mps or cpu, whichever is best here; refuse what is absent."""
    check("device", name, str, allowed=DEVICES)
    available = available_devices()
    if name == "auto":
        log.info("device = 'auto': using %s", describe_choice(name, available[0]))
        return torch.device(available[0])
    if name not in available:
        kind = {"cuda": "CUDA", "mps": "Apple MPS"}[name]
        raise ParameterError(
            f"device = {name!r}: no {kind} device is available here "
            f"(available: {', '.join(available)}); use device='auto' or 'cpu'"
        )
    return torch.device(name)


def describe_choice(requested: str, chosen: str) -> str:
    """How `requested` became `chosen`, e.g. "cpu, chosen by auto: no cuda or mps"."""
    if requested != "auto":
        return chosen
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    if chosen == "cpu":
        return f"cpu, chosen by auto: no {' or '.join(missing)} device here"
    return f"{chosen}, chosen by auto as the best device here"


def device_name(device: torch.device) -> str:
    """A human-readable name of the device: the GPU model, or the CPU and threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import platform

    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {torch.get_num_threads()} threads"
