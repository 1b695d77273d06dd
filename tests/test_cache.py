"""Cache entries and prepared arrays: checked on load, rebuilt when corrupt, and
never left half-written by an interrupted run."""

import io
import logging
import multiprocessing
import os

import numpy as np
import pytest
import torch

from cifarstudy import cache, data, predict, train
from cifarstudy.data import ImageSet
from cifarstudy.train import NetSpec, TrainSettings

SETTINGS = TrainSettings(epochs=1, batch_size=50, lr=0.01)
SPECS = [NetSpec(0, 0, "a"), NetSpec(1, 1, "b")]


@pytest.fixture(scope="module")
def small_train_set():
    full = data.synthetic("train")
    return ImageSet(
        "synthetic-train", full.images[:200], full.labels[:200], full.classes
    )


def payload_offset(path):
    """Where the torch.save payload starts in a cache file."""
    return path.read_bytes().index(b"\n") + 1


def test_an_entry_round_trips_and_opens_with_its_checksum(tmp_path):
    path = cache.entry_path(tmp_path, "logits", "k1")
    logits = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    cache.save(logits, path)

    assert torch.equal(cache.load(path), logits)
    assert path.read_bytes().startswith(cache.MAGIC)
    assert oct(path.stat().st_mode & 0o777) == oct(cache.FILE_MODE)
    assert sorted(p.name for p in path.parent.iterdir()) == ["k1.pt"]  # no temp files


def test_a_truncated_entry_is_reported_removed_and_rebuilt(tmp_path, caplog):
    path = cache.entry_path(tmp_path, "logits", "k1")
    cache.save(torch.ones(100, 10), path)
    path.write_bytes(path.read_bytes()[:-300])

    with caplog.at_level(logging.WARNING, logger="cifarstudy.cache"):
        assert cache.load(path) is None
    assert not path.exists()
    assert "is unusable (sha256" in caplog.text
    assert "truncated or corrupted); rebuilding it" in caplog.text


def test_a_flipped_bit_that_torch_would_load_is_caught_by_the_checksum(tmp_path):
    path = cache.entry_path(tmp_path, "logits", "k1")
    values = torch.arange(1000, dtype=torch.float32)
    cache.save(values, path)
    content = bytearray(path.read_bytes())
    storage = bytes(content).index(values.numpy().tobytes()[400:440])
    content[storage + 2] ^= 0x40  # one bit of one float
    path.write_bytes(bytes(content))

    # torch.load alone reads the damaged tensor without complaint ...
    damaged = torch.load(
        io.BytesIO(bytes(content[payload_offset(path) :])), weights_only=True
    )
    assert (damaged != values).sum().item() == 1
    # ... the cache does not
    with pytest.raises(cache.CorruptEntry, match="does not match"):
        cache.read_verified(path)
    assert cache.load(path) is None


def test_a_file_without_the_header_is_refused(tmp_path):
    path = tmp_path / "old.pt"
    torch.save(torch.ones(3), path)  # an entry of the previous format
    with pytest.raises(cache.CorruptEntry, match="no checksum header"):
        cache.read_verified(path)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_write_leaves_no_entry_and_no_temp_file(tmp_path, stop):
    path = cache.entry_path(tmp_path, "weights", "k1")
    cache.save({"w": torch.zeros(3)}, path)  # a whole entry from an earlier run

    def interrupted_fsync(fd):
        raise stop()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", interrupted_fsync)
        with pytest.raises(stop):
            cache.save({"w": torch.ones(3)}, path)

    assert sorted(p.name for p in path.parent.iterdir()) == ["k1.pt"]
    assert torch.equal(cache.load(path)["w"], torch.zeros(3))  # the old one, whole


def test_interrupted_training_writes_no_weights(small_train_set, tmp_path):
    def interrupt_at_epoch_end(line):
        if line.startswith("epoch"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_or_load(
            SPECS,
            small_train_set,
            SETTINGS,
            "cpu",
            tmp_path,
            progress=interrupt_at_epoch_end,
        )
    assert list(tmp_path.rglob("*")) == []


def test_truncated_weights_are_retrained_to_the_same_values(small_train_set, tmp_path):
    first = train.train_or_load(SPECS, small_train_set, SETTINGS, "cpu", tmp_path)
    paths = [cache.entry_path(tmp_path, "weights", r.key) for r in first]
    for path in paths:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])

    second = train.train_or_load(SPECS, small_train_set, SETTINGS, "cpu", tmp_path)

    assert [r.from_cache for r in second] == [False, False]
    for before, after in zip(first, second):
        for name, tensor in before.state_dict.items():
            assert torch.equal(after.state_dict[name], tensor)
    assert all(cache.load(path) is not None for path in paths)  # whole again


def test_one_truncated_net_is_retrained_alone_to_float_tolerance(
    small_train_set, tmp_path
):
    first = train.train_or_load(SPECS, small_train_set, SETTINGS, "cpu", tmp_path)
    path = cache.entry_path(tmp_path, "weights", first[1].key)
    path.write_bytes(path.read_bytes()[:-1])

    second = train.train_or_load(SPECS, small_train_set, SETTINGS, "cpu", tmp_path)

    # trained alone rather than grouped with net a: the same maths, summed in
    # another order, so equal to float tolerance rather than bitwise
    assert [r.from_cache for r in second] == [True, False]
    for name, tensor in first[1].state_dict.items():
        assert torch.allclose(second[1].state_dict[name], tensor, rtol=0, atol=1e-6)


def test_corrupt_logits_are_recomputed(small_train_set, tmp_path):
    nets = train.train_or_load(SPECS[:1], small_train_set, SETTINGS, "cpu", tmp_path)
    test_set = data.synthetic("test")
    args = (nets, test_set, "tutorial_cnn", 10, "cpu", tmp_path)
    (logits,) = predict.cached_logits(*args)
    (path,) = (tmp_path / "logits").iterdir()
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF
    path.write_bytes(bytes(content))

    (again,) = predict.cached_logits(*args)

    assert again.shape == (1000, 10)
    assert torch.equal(again, logits)
    assert cache.load(path) is not None


def _save_many(path, logits, times):
    for _ in range(times):
        cache.save(logits, path)


def test_two_processes_writing_one_entry_leave_it_whole(tmp_path):
    path = cache.entry_path(tmp_path, "logits", "shared")
    context = multiprocessing.get_context("fork")  # spawn would import torch again
    writers = [
        context.Process(
            target=_save_many, args=(path, torch.full((256, 1024), value), 15)
        )
        for value in (1.0, 2.0)
    ]
    for writer in writers:
        writer.start()
    seen = set()
    while any(w.is_alive() for w in writers):
        if path.exists():
            payload = cache.read_verified(path)  # raises on a partial file
            seen.add(torch.load(io.BytesIO(payload), weights_only=True)[0, 0].item())
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert cache.load(path)[0, 0].item() in (1.0, 2.0)
    assert seen <= {1.0, 2.0}
    assert [p.name for p in path.parent.iterdir()] == ["shared.pt"]


def test_corrupt_prepared_arrays_are_set_aside_and_prepared_again(
    tmp_path, monkeypatch, caplog
):
    source = data.synthetic("test")
    original = ImageSet("cifar10-test", source.images, source.labels, source.classes)
    path = data.prepared_path(tmp_path, "cifar10", "test")
    data.write_prepared(original, path)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF  # inside the images array
    path.write_bytes(bytes(content))
    # stands in for torchvision reading the raw CIFAR files again
    monkeypatch.setattr(data, "_load_torchvision", lambda *args: original)

    with caplog.at_level(logging.WARNING, logger="cifarstudy.data"):
        loaded = data.load("cifar10", "test", tmp_path, download=False)

    assert "Bad CRC-32 for file 'images.npy'" in caplog.text
    assert f"moved to {path.with_suffix('.corrupt')}" in caplog.text
    assert np.array_equal(loaded.images, original.images)
    assert loaded.checksum == original.checksum
    assert path.with_suffix(".corrupt").is_file()
    reread = data.read_prepared(path, "cifar10-test")  # the rebuilt file is whole
    assert reread.checksum == original.checksum


def test_corrupt_prepared_arrays_without_raw_files_fail_clearly(tmp_path, caplog):
    path = data.prepared_path(tmp_path, "cifar10", "test")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not a whole zip")

    with pytest.raises(data.DataNotFoundError, match="cifar10 test split not found"):
        data.load("cifar10", "test", tmp_path, download=False)
    assert "prepared arrays" in caplog.text and "are unreadable" in caplog.text
    assert not path.exists() and path.with_suffix(".corrupt").is_file()


def test_load_records_the_identity_of_each_split():
    before = len(data.loaded_sets())
    test_set = data.load("synthetic", "test")
    (entry,) = data.loaded_sets()[before:]
    assert entry == {
        "name": "synthetic-test",
        "split": "test",
        "images": 1000,
        "classes": 10,
        "sha256": test_set.checksum,
        "source": "generated",
    }
