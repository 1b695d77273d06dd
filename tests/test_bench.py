"""The benchmark's arithmetic count, on which its ceiling rests."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_engine.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conv_macs(c_in, c_out, kernel, out_size):
    return c_in * kernel * kernel * c_out * out_size * out_size


# multiply-adds of one image through the tutorial CNN, layer by layer
CONV1 = conv_macs(3, 6, 5, 28)  # 352,800
CONV2 = conv_macs(6, 16, 5, 10)  # 240,000
FC = 400 * 120 + 120 * 84 + 84 * 10  # 58,920


def test_training_arithmetic_is_forward_plus_the_gradients_it_needs(bench):
    forward = CONV1 + CONV2 + FC
    # backward: weight gradients of every layer, input gradients of every layer
    # but the first, whose input is the image
    backward = CONV1 + 2 * CONV2 + 2 * FC
    assert bench.training_flops_per_image() == 2 * (forward + backward)  # 3.2e6
    assert bench.training_flops_per_image(convolutions_only=True) == 2 * (
        2 * CONV1 + 3 * CONV2
    )
