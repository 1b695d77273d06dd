"""Batched inference: one pass per (net, dataset), logits cached on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from . import cache
from .data import ImageSet
from .models import build_model
from .train import Kernels, TrainResult, kernels_in_use, normalize

# images per forward pass: enough to amortise the per-call overhead, few enough
# that a batch's activations stay in the CPU's cache (250 ran faster than 1000)
EVAL_BATCH = 250


def load_model(result: TrainResult, arch: str, n_classes: int, device) -> nn.Module:
    """The trained net of `result` in eval mode on `device`."""
    model = build_model(arch, result.spec.init_seed, n_classes)
    model.load_state_dict(result.state_dict)
    return model.to(device).eval()


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    inputs: ImageSet | torch.Tensor,
    batch_size: int = EVAL_BATCH,
    kernels: Kernels | None = None,
) -> torch.Tensor:
    """Logits (N, K) on the CPU for an ImageSet or already-normalised (N, 3, H, W).

    `kernels` overrides the measured choice of `eval_kernels`.
    """
    device = next(model.parameters()).device
    if isinstance(inputs, ImageSet):
        # (N, 3, H, W) viewed on the arrays' (N, H, W, 3): channels-last, no copy
        images = torch.from_numpy(inputs.images).permute(0, 3, 1, 2).to(device)
        scale = True
    else:
        images, scale = inputs.to(device), False
    out = []
    kernels = kernels or eval_kernels(device)
    layout = torch.channels_last if kernels.channels_last else torch.contiguous_format
    with kernels_in_use(kernels):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].contiguous(memory_format=layout)
            out.append(model(normalize(x) if scale else x.float()).float().cpu())
    return torch.cat(out)


def eval_kernels(device: torch.device) -> Kernels:
    """How prediction computes on `device`: on a CPU channels-last oneDNN
    convolutions on one thread.

    Measured by `make bench` on a shared 2-core CPU, three runs: 10,900-14,900
    img/s on one thread, 17,100-31,900 on two while the other core was idle;
    two threads fell to 1,500-3,500 img/s while another program kept it busy.
    """
    if device.type != "cpu":
        return Kernels(channels_last=False, mkldnn=True, threads=None)
    return Kernels(channels_last=True, mkldnn=True, threads=1)


def cached_logits(
    results: Sequence[TrainResult],
    image_set: ImageSet,
    arch: str,
    n_classes: int,
    device,
    cache_dir: str | Path,
) -> list[torch.Tensor]:
    """Logits (N, K) of every trained net on `image_set`, computed once and cached."""
    out = []
    for result in results:
        key = cache.cache_key(
            kind="logits",
            weights=result.key,
            images=image_set.name,
            data=image_set.checksum,
        )
        path = cache.entry_path(cache_dir, "logits", key)
        logits = cache.load(path)
        if logits is None:
            logits = predict_logits(
                load_model(result, arch, n_classes, device), image_set
            )
            cache.save(logits, path)
        out.append(logits)
    return out
