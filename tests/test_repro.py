"""`make repro-check`: the same net trained twice, its weights compared."""

import pytest
import torch

from cifarstudy import repro


def weights(**changes):
    base = {
        "conv.weight": torch.linspace(-1, 1, 12).reshape(3, 4),
        "fc.bias": torch.ones(5),
    }
    return {**base, **changes}


def test_identical_weights_are_bitwise_equal():
    result = repro.compare_weights(weights(), weights())
    assert result == repro.Comparison("bitwise equal", 0.0, 0, 2)


def test_rounding_noise_is_equal_within_tolerance():
    nudged = torch.ones(5) + torch.tensor([0, 0, 2**-22, 0, 0])  # two ulps at 1.0
    result = repro.compare_weights(weights(), weights(**{"fc.bias": nudged}))
    assert result == repro.Comparison("equal within tolerance", 2**-22, 1, 2)


def test_a_real_change_is_different():
    result = repro.compare_weights(
        weights(), weights(**{"fc.bias": torch.full((5,), 1.5)})
    )
    assert result == repro.Comparison("different", 0.5, 1, 2)


def test_state_dicts_of_different_nets_are_refused():
    with pytest.raises(ValueError, match="different tensors"):
        repro.compare_weights(weights(), {"conv.weight": torch.zeros(3, 4)})


def test_training_twice_on_the_cpu_gives_bitwise_equal_weights(capsys):
    code = repro.main(["--device", "cpu", "--steps", "40", "--batch-size", "8"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == (
        "training tutorial_cnn twice for 40 steps of 8 synthetic-train images, "
        "seeds 0, on cpu"
    )
    assert lines[1].startswith(
        "weights: bitwise equal (0 of 10 tensors differ bitwise, "
    )
    assert lines[1].endswith("max |difference| 0, tolerance rtol 1e-05 atol 1e-06)")
    assert lines[2].startswith("why: cpu (CPU ")
    assert lines[2].endswith(
        "deterministic algorithms off, cuDNN benchmark off: every kernel took its "
        f"sums in the same order both times ({torch.get_num_threads()} CPU threads)"
    )
    assert lines[3].startswith("control: init seed 1 instead of 0: different ")


def test_gpu_runs_without_deterministic_algorithms_are_explained(monkeypatch):
    monkeypatch.setattr(repro, "device_name", lambda device: "Some GPU")
    different = repro.Comparison("different", 0.01, 10, 10)
    why = repro.explain(different, torch.device("cuda"))
    assert why.startswith(
        "cuda (Some GPU), deterministic algorithms off, cuDNN benchmark off: with "
        "deterministic algorithms off, GPU kernels may add partial sums"
    )
    assert why.endswith("rerun with --deterministic")


def test_the_deterministic_switch_is_undone(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        repro.set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic
        assert repro.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        repro.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic
