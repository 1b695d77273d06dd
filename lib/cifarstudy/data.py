"""Image sets as uint8 arrays: CIFAR-10, CIFAR-100 and a synthetic stand-in.

Every split is held as one `ImageSet`: images (N, 32, 32, 3) uint8 RGB, labels
(N,) int64 and the class names. Real CIFAR is read once through torchvision and
then kept as a prepared array file, `DATA_ROOT/prepared/<dataset>-<split>.npz`,
because decoding the pickled batches on every run costs seconds and a prepared
file loads in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import write_atomic

log = logging.getLogger(__name__)

IMAGE_SHAPE = (32, 32, 3)  # height, width, RGB channels
# the reference protocol scales pixels to [0, 1], then normalises each channel
NORMALIZE_MEAN = (0.5, 0.5, 0.5)
NORMALIZE_STD = (0.5, 0.5, 0.5)

SPLITS = ("train", "test")
REAL_DATASETS = ("cifar10", "cifar100")
# a synthetic dataset stands in for each real one in tests and smoke runs
SYNTHETIC_FOR = {"cifar10": "synthetic", "cifar100": "synthetic100"}
SYNTHETIC_CLASSES = {"synthetic": 10, "synthetic100": 100}
# distinct pattern seeds, so no class of the 100-class stand-in is a trained class
SYNTHETIC_SEEDS = {"synthetic": 0, "synthetic100": 1}
SYNTHETIC_SIZES = {"train": 4000, "test": 1000}
DATASETS = REAL_DATASETS + tuple(SYNTHETIC_CLASSES)


# NOTE: the library's one piece of process state: the identity of every split
# loaded in this process, in order, so that a report can name the data it used
# without each notebook passing its sets along. Read it with `loaded_sets()`.
_LOADED: list[dict] = []


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither prepared, nor on disk, nor downloadable."""


@dataclass(frozen=True)
class ImageSet:
    """One split of one dataset, as arrays."""

    name: str  # e.g. "cifar10-test"
    images: np.ndarray = field(repr=False)  # (N, 32, 32, 3) uint8
    labels: np.ndarray = field(repr=False)  # (N,) int64
    classes: tuple[str, ...]

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"{self.name}: images must be uint8 (N, 32, 32, 3), "
                f"got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"{self.name}: one label per image expected")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels_tensor(self):
        """The labels as a torch int64 tensor (N,), sharing memory."""
        import torch

        return torch.from_numpy(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def checksum(self) -> str:
        """sha256 of images and labels: the identity of the data in cache keys."""
        cached = self.__dict__.get("_checksum")
        if cached is None:
            digest = hashlib.sha256(np.ascontiguousarray(self.images).data)
            digest.update(np.ascontiguousarray(self.labels, dtype=np.int64).data)
            cached = digest.hexdigest()
            object.__setattr__(self, "_checksum", cached)
        return cached


def load(dataset: str, split: str, root: str | Path = "data", download=True):
    """The `split` of `dataset` as an ImageSet, preparing real data on first use."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset in SYNTHETIC_CLASSES:
        image_set = synthetic(
            split, SYNTHETIC_CLASSES[dataset], SYNTHETIC_SEEDS[dataset], name=dataset
        )
        return _register(image_set, split, "generated")
    if dataset not in REAL_DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")

    root = Path(root).expanduser()
    prepared = prepared_path(root, dataset, split)
    if prepared.exists():
        try:  # the zip's CRC-32 of each array is checked as it is read
            image_set = read_prepared(prepared, f"{dataset}-{split}")
            return _register(image_set, split, str(prepared))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            aside = prepared.with_suffix(".corrupt")
            os.replace(prepared, aside)
            log.warning(
                "prepared arrays %s are unreadable (%s); moved to %s, preparing "
                "them again",
                prepared,
                error,
                aside,
            )
    image_set = _load_torchvision(dataset, split, root, download)
    write_prepared(image_set, prepared)
    log.info("prepared %s for fast loading: %s", image_set.name, prepared)
    return _register(image_set, split, str(prepared))


def _register(image_set: ImageSet, split: str, source: str) -> ImageSet:
    """Record the identity of `image_set` for `loaded_sets()`; return it."""
    _LOADED.append(
        {
            "name": image_set.name,
            "split": split,
            "images": len(image_set),
            "classes": image_set.n_classes,
            "sha256": image_set.checksum,
            "source": source,
        }
    )
    return image_set


def loaded_sets() -> list[dict]:
    """Identity (name, split, images, classes, sha256, source) of each split loaded
    in this process so far, oldest first."""
    return [dict(entry) for entry in _LOADED]


def prepared_path(root: Path, dataset: str, split: str) -> Path:
    return Path(root) / "prepared" / f"{dataset}-{split}.npz"


def read_prepared(path: Path, name: str) -> ImageSet:
    with np.load(path, allow_pickle=False) as arrays:
        return ImageSet(
            name=name,
            images=arrays["images"],
            labels=arrays["labels"].astype(np.int64),
            classes=tuple(str(c) for c in arrays["classes"]),
        )


def write_prepared(image_set: ImageSet, path: Path) -> None:
    """Write the prepared-array file through a temporary file and a rename."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        images=image_set.images,
        labels=image_set.labels,
        classes=np.array(image_set.classes),
    )
    write_atomic(path, buffer.getbuffer())


def _load_torchvision(dataset: str, split: str, root: Path, download: bool):
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[dataset]
    try:
        raw = cls(root=str(root), train=split == "train", download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError
        raise DataNotFoundError(_missing_message(dataset, split, root, error)) from None
    return ImageSet(
        name=f"{dataset}-{split}",
        images=np.ascontiguousarray(raw.data, dtype=np.uint8),
        labels=np.asarray(raw.targets, dtype=np.int64),
        classes=tuple(raw.classes),
    )


def _missing_message(dataset: str, split: str, root: Path, error: Exception) -> str:
    archive = {
        "cifar10": "cifar-10-python.tar.gz",
        "cifar100": "cifar-100-python.tar.gz",
    }
    return (
        f"{dataset} {split} split not found and could not be downloaded.\n"
        f"  looked for: {prepared_path(root, dataset, split)}\n"
        f"         and: torchvision's files under {root.resolve()}\n"
        f"  torchvision said: {str(error).strip() or type(error).__name__}\n"
        f"Provide the data in one of these ways, then run again:\n"
        f"  - put {archive[dataset]} (from the CIFAR website) in {root}, or\n"
        f"  - write prepared arrays (images uint8 (N, 32, 32, 3), labels, classes)"
        f" to {prepared_path(root, dataset, split)}, or\n"
        f"  - set data_root to a folder that holds either, or\n"
        f"  - run on the synthetic dataset: dataset='synthetic'."
    )


def synthetic_patterns(n_classes: int, seed: int) -> np.ndarray:
    """The class patterns of a synthetic dataset, (K, 32, 32, 3) standard normal."""
    rng = np.random.default_rng(seed)
    patterns = rng.normal(0.0, 1.0, size=(n_classes, 4, 4, 3))
    return patterns.repeat(8, axis=1).repeat(8, axis=2)


def synthetic(split: str, n_classes: int = 10, seed: int = 0, name="synthetic"):
    """A learnable stand-in with CIFAR's shapes, the same on every machine.

    Each class has a smooth colour pattern (a 4 x 4 grid upsampled to 32 x 32);
    an image is its class pattern at a random, faint contrast under strong pixel
    noise. A small net reaches roughly 60-80% test accuracy within a few hundred
    steps, so nets trained with different seeds really do disagree on some images.
    """
    patterns = synthetic_patterns(n_classes, seed)  # shared by both splits
    n = SYNTHETIC_SIZES[split]
    rng = np.random.default_rng([seed, SPLITS.index(split) + 1])
    labels = np.arange(n, dtype=np.int64) % n_classes
    rng.shuffle(labels)
    contrast = rng.uniform(3.0, 12.0, size=(n, 1, 1, 1))
    noise = rng.normal(0.0, 64.0, size=(n, *IMAGE_SHAPE))
    pixels = 128.0 + contrast * patterns[labels] + noise
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    width = len(str(n_classes - 1))
    classes = tuple(f"pattern{k:0{width}d}" for k in range(n_classes))
    return ImageSet(f"{name}-{split}", images, labels, classes)
