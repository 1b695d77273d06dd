"""A content-addressed disk cache for trained weights and logits.

Entries are keyed by a hash of everything that changes them. Each file opens
with a line holding the sha256 of the rest, which is checked on every load, so
a truncated or corrupted entry is reported, removed and rebuilt by the caller
rather than read. Files are written to a temporary file that is renamed into
place: an interrupted run (Ctrl-C, SIGTERM, a killed kernel) never leaves a
half-written entry, and two runs writing the same entry both leave a whole one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the meaning or the layout of a cached entry changes
MAGIC = b"cifarstudy-cache sha256 "  # first bytes of an entry; the digest follows
FILE_MODE = 0o644  # cache entries and reports: readable by all, written by the owner


class CorruptEntry(ValueError):
    """A cache file whose checksum or contents do not match what was written."""


def cache_key(**fields: Any) -> str:
    """A short stable hash of `fields` (JSON-serialisable values)."""
    text = json.dumps({"format": FORMAT, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_path(cache_dir: str | Path, kind: str, key: str) -> Path:
    return Path(cache_dir) / kind / f"{key}.pt"


def save(obj: Any, path: Path) -> None:
    """torch.save `obj` to `path` atomically, behind a sha256 header line."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    header = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    write_atomic(path, header + payload)


def write_atomic(path: Path, content: bytes) -> None:
    """Write `content` to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes files only their owner can read
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt and SystemExit included
        Path(tmp).unlink(missing_ok=True)
        raise


def read_verified(path: Path) -> bytes:
    """The payload of the entry at `path`; raises CorruptEntry if its sha256 differs."""
    content = path.read_bytes()
    header, newline, payload = content.partition(b"\n")
    if not header.startswith(MAGIC) or not newline:
        raise CorruptEntry("no checksum header: truncated, or not a cache entry")
    expected = header[len(MAGIC) :].decode(errors="replace")
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CorruptEntry(
            f"sha256 {actual[:12]}... of {len(payload)} bytes does not match "
            f"{expected[:12]}... written with it: truncated or corrupted"
        )
    return payload


def load(path: Path) -> Any | None:
    """The entry at `path`, or None when it is missing, corrupted or unreadable."""
    if not path.exists():
        return None
    try:
        payload = read_verified(path)
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, corrupted or from another format
        log.warning("cache entry %s is unusable (%s); rebuilding it", path, error)
        path.unlink(missing_ok=True)
        return None
