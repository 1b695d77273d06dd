import pickle

import numpy as np
import pytest
import torchvision.datasets.cifar

from cifarstudy import data

CLASSES = [f"class{k}" for k in range(10)]


def write_torchvision_cifar10(root, per_batch=6):
    """Files in torchvision's own CIFAR-10 layout, with small known images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        images = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        # on disk: one row per image, the R, G and B planes one after another
        rows = images.transpose(0, 3, 1, 2).reshape(per_batch, -1)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": labels}, f)
        batches[name] = (images, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASSES}, f)
    return batches


@pytest.fixture
def skip_md5(monkeypatch):
    """The test files are not the official ones, so their md5 cannot match."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a: True)


def test_torchvision_layout_is_read_and_prepared(tmp_path, skip_md5):
    batches = write_torchvision_cifar10(tmp_path)
    test = data.load("cifar10", "test", tmp_path, download=False)

    images, labels = batches["test_batch"]
    assert test.name == "cifar10-test"
    assert np.array_equal(test.images, images)
    assert test.labels.tolist() == labels
    assert test.labels.dtype == np.int64
    assert test.classes == tuple(CLASSES)
    assert data.prepared_path(tmp_path, "cifar10", "test").is_file()


def test_training_split_joins_the_five_batches_in_order(tmp_path, skip_md5):
    batches = write_torchvision_cifar10(tmp_path)
    train = data.load("cifar10", "train", tmp_path, download=False)
    expected = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert np.array_equal(train.images, expected)
    assert len(train) == 30


def test_prepared_arrays_are_used_without_the_raw_files(tmp_path, skip_md5):
    write_torchvision_cifar10(tmp_path)
    first = data.load("cifar10", "test", tmp_path, download=False)
    for path in (tmp_path / "cifar-10-batches-py").iterdir():
        path.unlink()
    second = data.load("cifar10", "test", tmp_path, download=False)
    assert np.array_equal(first.images, second.images)
    assert first.checksum == second.checksum


def test_a_prepared_copy_in_the_shared_format_is_read_as_is(tmp_path):
    images = np.full((3, 32, 32, 3), 7, dtype=np.uint8)
    path = data.prepared_path(tmp_path, "cifar100", "test")
    path.parent.mkdir(parents=True)
    np.savez(
        path,
        images=images,
        labels=np.array([0, 5, 99]),
        classes=np.array([f"c{k}" for k in range(100)]),
    )
    loaded = data.load("cifar100", "test", tmp_path, download=False)
    assert loaded.n_classes == 100
    assert loaded.labels.tolist() == [0, 5, 99]


def test_missing_data_stops_with_one_clear_message(tmp_path):
    with pytest.raises(data.DataNotFoundError) as failure:
        data.load("cifar10", "test", tmp_path / "nowhere", download=False)
    message = str(failure.value)
    assert "cifar10 test split not found" in message
    assert str(data.prepared_path(tmp_path / "nowhere", "cifar10", "test")) in message
    assert "cifar-10-python.tar.gz" in message
    assert "dataset='synthetic'" in message
    assert failure.value.__cause__ is None  # no torchvision traceback chained


def test_synthetic_data_has_cifar_shapes_and_is_deterministic():
    first, second = data.synthetic("test"), data.synthetic("test")
    assert first.images.shape == (1000, 32, 32, 3)
    assert first.images.dtype == np.uint8
    assert np.bincount(first.labels).tolist() == [100] * 10
    assert first.checksum == second.checksum
    assert data.synthetic("train").checksum != first.checksum


def test_synthetic_stand_in_for_cifar100_has_100_classes():
    stand_in = data.load("synthetic100", "test")
    assert stand_in.n_classes == 100
    assert set(stand_in.labels.tolist()) == set(range(100))


def test_unknown_dataset_and_split_are_refused():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("mnist", "test")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("synthetic", "validation")


def test_the_100_class_stand_in_shares_no_pattern_with_the_10_class_set():
    ten = data.synthetic_patterns(10, data.SYNTHETIC_SEEDS["synthetic"])
    hundred = data.synthetic_patterns(100, data.SYNTHETIC_SEEDS["synthetic100"])
    distance = np.abs(ten[:, None] - hundred[None]).mean(axis=(2, 3, 4))  # (10, 100)
    assert distance.min() > 0.5  # unrelated standard-normal patterns differ by ~1.1
    # with one seed for both, the first ten of the hundred would be the ten
    assert np.array_equal(data.synthetic_patterns(100, 0)[:10], ten)
