"""The training engine computes what a plain one-net PyTorch loop computes.

The reference below is the tutorial's loop, written out here on purpose: one
TutorialCNN, torch.optim.SGD, the batches of `data_order`, the same scaling
and normalisation, one net after another.
"""

import contextlib
import math

import pytest
import torch
from torch.nn import functional as F

from cifarstudy import data, models, predict, train

STEPS = 250  # SGD steps per net
SETTINGS = train.TrainSettings(epochs=1, batch_size=4, lr=0.001, momentum=0.9)
SPECS = [train.NetSpec(0, 10, "a"), train.NetSpec(1, 11, "b"), train.NetSpec(2, 12)]
# The engine takes its sums in other orders than the reference (grouped
# kernels, another memory layout), so each step may differ in the last bits of
# float32 (eps 1.2e-7), and SGD carries these differences on: after STEPS
# steps they reached 4e-6 here. A real error moves weights far more: another
# data order by ~1e-2, one flipped ReLU or max-pool decision by ~1e-3.
WEIGHT_ATOL, WEIGHT_RTOL = 1e-5, 1e-4
LOSS_ATOL = 1e-5  # per-step losses ~2.3 agree to a few float32 ulps


@pytest.fixture(scope="module")
def train_set():
    full = data.synthetic("train")
    n = STEPS * SETTINGS.batch_size
    return data.ImageSet(
        "synthetic-head", full.images[:n], full.labels[:n], full.classes
    )


def plain_training(spec, train_set, settings):
    """The tutorial loop for one net: its weights and the loss of every step.

    It runs on one thread with PyTorch's own convolutions. oneDNN's round
    differently, and over a few hundred steps a rounding difference can flip
    one ReLU or max-pool decision (two plain loops, one per library, then
    differ by ~1e-3). The seeds of SPECS flip none here; other seeds, or other
    CPUs with other kernels, may.
    """
    net = models.build_model(settings.arch, spec.init_seed, train_set.n_classes)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=settings.lr, momentum=settings.momentum
    )
    mean = torch.tensor(data.NORMALIZE_MEAN)[:, None, None]
    std = torch.tensor(data.NORMALIZE_STD)[:, None, None]
    pixels = torch.from_numpy(train_set.images).permute(0, 3, 1, 2).float() / 255
    images, labels = (pixels - mean) / std, torch.from_numpy(train_set.labels)

    losses, size = [], settings.batch_size
    order = train.data_order(spec.order_seed, len(train_set), settings.epochs)
    with one_thread_native_convolutions():
        for epoch in range(settings.epochs):
            for step in range(math.ceil(len(train_set) / size)):
                batch = order[epoch, step * size : (step + 1) * size]
                loss = F.cross_entropy(net(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
    return net.state_dict(), losses


@contextlib.contextmanager
def one_thread_native_convolutions():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.backends.mkldnn.flags(
            enabled=False, deterministic=None, allow_tf32=None, fp32_precision=None
        ):
            yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(train_set):
    return [plain_training(spec, train_set, SETTINGS) for spec in SPECS]


def quiet(line: str) -> None:
    pass


def test_the_reference_moves_every_weight_well_beyond_the_tolerance(reference):
    for spec, (weights, _) in zip(SPECS, reference):
        initial = models.build_model("tutorial_cnn", spec.init_seed).state_dict()
        for name, tensor in weights.items():
            assert (tensor - initial[name]).abs().max() > 100 * WEIGHT_ATOL


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_engine_matches_the_plain_loop_for_several_nets(
    train_set, reference, processes
):
    # 1: one grouped model of 3 nets; 2: processes of 2 and 1 nets; 3: one each
    results = train.train_nets(
        SPECS,
        train_set,
        SETTINGS,
        "cpu",
        log_every=1,
        progress=quiet,
        processes=processes,
    )

    assert [r.spec for r in results] == SPECS
    for result, (weights, losses) in zip(results, reference):
        assert result.state_dict.keys() == weights.keys()
        for name, expected in weights.items():
            got = result.state_dict[name]
            assert got.shape == expected.shape and got.is_contiguous()
            assert torch.allclose(got, expected, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)
        assert [step for step, _ in result.loss_curve] == list(range(1, STEPS + 1))
        got_losses = torch.tensor([loss for _, loss in result.loss_curve])
        assert torch.allclose(got_losses, torch.tensor(losses), rtol=0, atol=LOSS_ATOL)


def test_another_data_order_is_told_apart(train_set, reference):
    spec = SPECS[0]
    shuffled = train.NetSpec(spec.init_seed, spec.order_seed + 1)
    (result,) = train.train_nets([shuffled], train_set, SETTINGS, progress=quiet)
    weights, _ = reference[0]
    assert not torch.allclose(
        result.state_dict["fc3.weight"],
        weights["fc3.weight"],
        rtol=WEIGHT_RTOL,
        atol=WEIGHT_ATOL,
    )


@pytest.mark.parametrize("processes", [1, 2])
def test_equal_seeds_give_bitwise_equal_weights(train_set, processes):
    def run():
        return train.train_nets(
            SPECS[:2], train_set, SETTINGS, progress=quiet, processes=processes
        )

    first, again = run(), run()
    for a, b in zip(first, again):
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        assert a.loss_curve == b.loss_curve and a.epoch_loss == b.epoch_loss


def test_processes_report_in_the_nets_order_with_one_row_per_epoch(train_set):
    settings = train.TrainSettings(epochs=2, batch_size=50, lr=0.01)  # 20 steps
    lines = []
    results = train.train_nets(
        SPECS, train_set, settings, log_every=10, progress=lines.append, processes=2
    )

    names = ["a", "b", "init2-order12"]
    expected = []
    for epoch in (1, 2):
        expected += [f"{n} [{epoch},    {step}]" for step in (10, 20) for n in names]
        expected.append(f"epoch  {epoch}/2")
    assert [line.split(" loss:")[0].split(" | ")[0] for line in lines] == expected
    for epoch, row in enumerate(line for line in lines if line.startswith("epoch")):
        losses = " ".join(f"{r.spec.name} {r.epoch_loss[epoch]:.3f}" for r in results)
        assert f"| mean loss {losses} |" in row
    assert [len(r.epoch_seconds) for r in results] == [2, 2, 2]


def test_a_failing_process_raises_with_its_traceback(train_set):
    settings = train.TrainSettings(arch="no_such_net", epochs=1)
    with pytest.raises(RuntimeError, match="arch must be one of"):
        train.train_nets(SPECS[:2], train_set, settings, progress=quiet, processes=2)


@pytest.mark.parametrize(
    ("n_nets", "device", "processes", "groups"),
    [
        (5, "cpu", 2, [[0, 2, 4], [1, 3]]),
        (2, "cpu", 8, [[0], [1]]),
        (3, "cpu", 1, [[0, 1, 2]]),
        (3, "cuda", None, [[0, 1, 2]]),
    ],
)
def test_plan_processes_deals_nets_round_robin(n_nets, device, processes, groups):
    assert train.plan_processes(n_nets, torch.device(device), processes) == groups


def test_plan_processes_refuses_several_gpu_processes():
    with pytest.raises(ValueError, match="CPU only"):
        train.plan_processes(2, torch.device("cuda"), 2)


def test_kernels_are_chosen_per_group_size_and_restored_afterwards():
    cpu = torch.device("cpu")
    alone, grouped = train.choose_kernels(1, cpu), train.choose_kernels(4, cpu)
    assert (alone.channels_last, alone.mkldnn, alone.threads) == (False, False, 1)
    assert (grouped.channels_last, grouped.mkldnn, grouped.threads) == (True, True, 1)

    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    with train.kernels_in_use(alone):
        assert torch.get_num_threads() == 1
        assert torch.backends.mkldnn.enabled is False
    assert torch.get_num_threads() == threads
    assert torch.backends.mkldnn.enabled == mkldnn


def test_batch_images_puts_net_k_batch_in_channels_3k_to_3k_plus_2():
    images = torch.arange(6 * 3 * 2 * 2, dtype=torch.uint8).reshape(6, 3, 2, 2)
    index = torch.tensor([[5, 0], [2, 3], [1, 1]])  # (K=3 nets, B=2)

    x = train.batch_images(images, index)

    assert x.shape == (2, 9, 2, 2) and x.is_contiguous()
    for k in range(3):
        for b in range(2):
            assert torch.equal(x[b, 3 * k : 3 * k + 3], images[index[k, b]])


def test_flat_sgd_takes_the_steps_of_torch_sgd_bitwise():
    flat_net = models.build_model("tutorial_cnn", 0).to(
        memory_format=torch.channels_last
    )
    plain_net = models.build_model("tutorial_cnn", 0)
    flat = train.FlatSGD(flat_net.parameters(), lr=0.01, momentum=0.9)
    plain = torch.optim.SGD(plain_net.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)

    for _ in range(3):
        flat.zero_grad()
        plain.zero_grad()
        for p, q in zip(flat_net.parameters(), plain_net.parameters()):
            gradient = torch.randn(q.shape, generator=generator)
            p.grad += gradient  # as backward accumulates into the flat gradient
            q.grad = gradient
        flat.step()
        plain.step()

    for p, q in zip(flat_net.parameters(), plain_net.parameters()):
        assert torch.equal(p, q)
    assert flat_net.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_normalize_scales_uint8_to_the_reference_range():
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8).reshape(1, 3, 1, 1)
    expected = torch.tensor([-1.0, -0.6, 1.0]).reshape(1, 3, 1, 1)
    assert torch.allclose(train.normalize(pixels), expected, atol=1e-7)


def test_grouped_model_holds_and_returns_each_nets_exact_weights():
    nets = [models.build_model("tutorial_cnn", seed) for seed in (3, 4)]
    grouped = train.GroupedTutorialCNN(nets)

    for net, state in zip(nets, grouped.state_dicts()):
        expected = net.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], expected[k]) for k in expected)


def test_grouped_model_computes_each_nets_logits():
    nets = [models.build_model("tutorial_cnn", seed) for seed in (3, 4, 5)]
    x = torch.randn(2, 9, 32, 32, generator=torch.Generator().manual_seed(0))

    logits = train.GroupedTutorialCNN(nets)(x)  # (K, B, C)

    assert logits.shape == (3, 2, 10)
    for k, net in enumerate(nets):
        assert torch.allclose(logits[k], net(x[:, 3 * k : 3 * k + 3]), atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batched_prediction_matches_one_image_at_a_time(batch_size):
    test_set = data.synthetic("test")
    net = models.build_model("tutorial_cnn", 0).eval()
    pixels = torch.from_numpy(test_set.images[:20]).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(data.NORMALIZE_MEAN)[:, None, None]
    std = torch.tensor(data.NORMALIZE_STD)[:, None, None]
    inputs = (pixels - mean) / std
    with torch.no_grad():
        expected = torch.cat([net(image[None]) for image in inputs])
    head = data.ImageSet(
        "head", test_set.images[:20], test_set.labels[:20], test_set.classes
    )

    from_images = predict.predict_logits(net, head, batch_size)
    from_inputs = predict.predict_logits(net, inputs, batch_size)

    assert from_images.shape == (20, 10)
    assert torch.allclose(from_images, expected, atol=1e-5)
    assert torch.allclose(from_inputs, expected, atol=1e-5)
