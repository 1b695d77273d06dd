"""A content-addressed disk cache for trained weights and logits.

Entries are keyed by a hash of everything that changes them and written to a
temporary file that is renamed into place, so an interrupted run never leaves a
half-written entry, and two runs writing the same entry both leave a whole one.
An entry that fails to load is reported, removed and rebuilt by the caller.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the meaning of a cached entry changes


def cache_key(**fields: Any) -> str:
    """A short stable hash of `fields` (JSON-serialisable values)."""
    text = json.dumps({"format": FORMAT, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_path(cache_dir: str | Path, kind: str, key: str) -> Path:
    return Path(cache_dir) / kind / f"{key}.pt"


def save(obj: Any, path: Path) -> None:
    """torch.save `obj` to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Any | None:
    """The entry at `path`, or None when it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or corrupted: rebuild it
        log.warning("cache entry %s is unreadable (%s); rebuilding it", path, error)
        path.unlink(missing_ok=True)
        return None
