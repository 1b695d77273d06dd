import dataclasses

import pytest
import torch

from cifarstudy import data, models, train

SETTINGS = train.TrainSettings(epochs=1, batch_size=16, lr=0.01, momentum=0.9)


@pytest.fixture(scope="module")
def small_train_set():
    full = data.synthetic("train")
    return data.ImageSet(
        "synthetic-small", full.images[:320], full.labels[:320], full.classes
    )


def test_equal_init_seeds_give_bitwise_equal_weights():
    a = models.build_model("tutorial_cnn", 7).state_dict()
    b = models.build_model("tutorial_cnn", 7).state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_different_init_seeds_give_different_weights():
    a = models.build_model("tutorial_cnn", 7).state_dict()
    b = models.build_model("tutorial_cnn", 8).state_dict()
    assert not torch.equal(a["conv1.weight"], b["conv1.weight"])


def test_building_a_model_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models.build_model("tutorial_cnn", 0)
    assert torch.equal(torch.rand(3), expected)


def test_tutorial_cnn_has_the_tutorial_layer_shapes():
    shapes = {k: tuple(v.shape) for k, v in models.TutorialCNN().state_dict().items()}
    assert shapes == {
        "conv1.weight": (6, 3, 5, 5),
        "conv1.bias": (6,),
        "conv2.weight": (16, 6, 5, 5),
        "conv2.bias": (16,),
        "fc1.weight": (120, 400),
        "fc1.bias": (120,),
        "fc2.weight": (84, 120),
        "fc2.bias": (84,),
        "fc3.weight": (10, 84),
        "fc3.bias": (10,),
    }


def test_equal_order_seeds_give_the_same_order_and_different_seeds_do_not():
    first, again = train.data_order(5, 100, 3), train.data_order(5, 100, 3)
    other = train.data_order(6, 100, 3)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert all(sorted(epoch.tolist()) == list(range(100)) for epoch in first)
    assert not torch.equal(first[0], first[1])  # each epoch is reshuffled


def test_loss_line_has_the_tutorial_format():
    assert train.loss_line(1, 2000, 2.19047) == "[1,  2000] loss: 2.190"
    assert train.loss_line(5, 12000, 0.9, "b") == "b [5, 12000] loss: 0.900"


def test_training_prints_running_loss_every_log_every_batches(small_train_set):
    lines = []
    spec = train.NetSpec(0, 0, "a")
    (result,) = train.train_nets(
        [spec], small_train_set, SETTINGS, "cpu", log_every=10, progress=lines.append
    )
    loss_lines = [line for line in lines if "loss:" in line]
    assert [line[:12] for line in loss_lines] == ["a [1,    10]", "a [1,    20]"]
    assert [step for step, _ in result.loss_curve] == [10, 20]
    assert loss_lines[0] == train.loss_line(1, 10, result.loss_curve[0][1], "a")
    assert lines[-1].startswith("epoch  1/1 |")


def test_train_or_load_reuses_cached_weights(small_train_set, tmp_path):
    specs = [train.NetSpec(0, 0, "a"), train.NetSpec(1, 1, "b")]
    lines = []

    def train_or_load():
        return train.train_or_load(
            specs,
            small_train_set,
            SETTINGS,
            "cpu",
            tmp_path,
            log_every=1000,
            progress=lines.append,
        )

    first, second = train_or_load(), train_or_load()

    assert [r.from_cache for r in first] == [False, False]
    assert [r.from_cache for r in second] == [True, True]
    assert sum("loaded cached weights" in line for line in lines) == 2
    for trained, loaded in zip(first, second):
        assert trained.key == loaded.key
        assert all(
            torch.equal(trained.state_dict[k], loaded.state_dict[k])
            for k in trained.state_dict
        )
        assert loaded.epoch_loss == trained.epoch_loss


@pytest.mark.parametrize(
    "change",
    [
        {"epochs": 2},
        {"batch_size": 8},
        {"lr": 0.02},
        {"momentum": 0.5},
    ],
)
def test_weights_key_covers_every_training_setting(small_train_set, change):
    spec, cpu = train.NetSpec(0, 0), torch.device("cpu")
    changed = dataclasses.replace(SETTINGS, **change)
    base = train.weights_key(spec, SETTINGS, small_train_set, cpu)
    assert train.weights_key(spec, changed, small_train_set, cpu) != base


def test_weights_key_covers_seeds_data_and_device(small_train_set):
    cpu = torch.device("cpu")
    base = train.weights_key(train.NetSpec(0, 0), SETTINGS, small_train_set, cpu)
    others = [
        train.weights_key(train.NetSpec(1, 0), SETTINGS, small_train_set, cpu),
        train.weights_key(train.NetSpec(0, 1), SETTINGS, small_train_set, cpu),
        train.weights_key(train.NetSpec(0, 0), SETTINGS, data.synthetic("test"), cpu),
        train.weights_key(
            train.NetSpec(0, 0), SETTINGS, small_train_set, torch.device("cuda")
        ),
    ]
    assert len({base, *others}) == 5
    # the label is for display only and does not change the weights
    labelled = train.NetSpec(0, 0, "a")
    assert train.weights_key(labelled, SETTINGS, small_train_set, cpu) == base
