"""Bad parameters stop a run with one message naming the parameter, its value
and what is allowed: in the schema, in the suite before any notebook starts,
in a notebook run by papermill directly, and for devices that are absent."""

import dataclasses
import functools
import logging
import subprocess
from pathlib import Path

import papermill
import pytest
import torch

from cifarstudy import config, report, suite
from cifarstudy.config import ParameterError, StudyConfig

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ", ".join(sorted(p.stem for p in (ROOT / "params").glob("*.yaml")))
KNOWN = ", ".join(sorted(f.name for f in dataclasses.fields(StudyConfig)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": -1}, "epochs = -1: must be >= 1"),
        ({"batch_size": 0}, "batch_size = 0: must be >= 1"),
        ({"epochs": 2.5}, "epochs = 2.5: must be int"),
        (
            {"init_seeds": [0, 1.5]},
            "init_seeds = [0, 1.5]: must be a non-empty list of int >= 0, "
            "one seed per net",
        ),
        (
            {"order_seeds": "0, 1"},
            "order_seeds = '0, 1': must be a non-empty list of int >= 0, "
            "one seed per net",
        ),
        ({"sample_seed": "3"}, "sample_seed = '3': must be int"),
        ({"noise_seed": True}, "noise_seed = True: must be int"),
        (
            {"dataset": "cifar100"},
            "dataset = 'cifar100': must be one of cifar10, synthetic",
        ),
        ({"device": "tpu"}, "device = 'tpu': must be one of auto, cpu, cuda, mps"),
        ({"lr": float("nan")}, "lr = nan: must be a finite number"),
        ({"lr": 0}, "lr = 0: must be > 0"),
        ({"momentum": 1.5}, "momentum = 1.5: must be <= 1.0"),
        ({"download": "yes"}, "download = 'yes': must be bool"),
    ],
)
def test_a_bad_value_is_refused_with_name_value_and_what_is_allowed(changes, message):
    with pytest.raises(ParameterError) as caught:
        StudyConfig(**changes)
    assert str(caught.value) == message


def test_a_data_root_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "cifar.npz"
    path.write_bytes(b"")
    with pytest.raises(ParameterError) as caught:
        StudyConfig(data_root=str(path))
    assert str(caught.value) == (
        f"data_root = '{path}': is a file ({path}); must be a folder"
    )


def test_seed_lists_of_different_lengths_are_refused():
    with pytest.raises(ParameterError) as caught:
        StudyConfig(init_seeds=[0, 1, 2], order_seeds=[0, 1])
    assert str(caught.value) == (
        "init_seeds = [0, 1, 2] and order_seeds = [0, 1]: "
        "must have one seed per net each"
    )


def test_a_name_papermill_injected_but_no_field_declares_is_refused():
    history = ["", "epochs: int = 5  # passes", "# Parameters\nepoch = 3\nlr = 0.01\n"]
    namespace = {"In": history, "epochs": 5, "epoch": 3, "lr": 0.01}
    with pytest.raises(ParameterError) as caught:
        StudyConfig.from_namespace(namespace)
    assert str(caught.value) == (
        f"epoch = 3: unknown parameter (did you mean epochs?); allowed: {KNOWN}"
    )


def test_without_an_injected_cell_other_variables_are_ignored():
    namespace = {"In": ["", "epochs = 3"], "epochs": 3, "torch": torch, "x": 1}
    assert StudyConfig.from_namespace(namespace).epochs == 3
    assert StudyConfig.from_namespace({"epochs": 4, "epoch": 1}).epochs == 4


def test_the_setup_cell_can_run_again_after_device_was_resolved():
    namespace = {"device": torch.device("cpu"), "epochs": 2}
    assert StudyConfig.from_namespace(namespace).device == "cpu"


def test_injected_names_reads_the_latest_injected_cell():
    history = [
        "",
        "# Parameters\nold = 1\n",
        "x = 2",
        "# Parameters\nlr = 0.1\nepochs = 1\n",
    ]
    assert config.injected_names({"In": history}) == ["lr", "epochs"]
    assert config.injected_names({}) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--preset", "nosuch"],
            f"error: preset 'nosuch' not found; known presets: {PRESETS}",
        ),
        (
            ["--preset", "smoke", "--set", "epochs=-1"],
            "error: epochs = -1: must be >= 1",
        ),
        (
            ["--preset", "smoke", "--set", "epochs"],
            "error: override 'epochs': must look like name=value",
        ),
        (
            ["--preset", "smoke", "--set", "init_seeds=[0, 1"],
            "error: override 'init_seeds=[0, 1': value is not valid",
        ),
        (
            ["--preset", "smoke", "--set", "epoch=1"],
            "error: epoch = 1: unknown parameter (did you mean epochs?); allowed: ",
        ),
        (
            ["--preset", "smoke", "--set", "init_seeds=[0, x]"],
            "error: init_seeds = [0, 'x']: must be a non-empty list of int >= 0",
        ),
        (
            ["--preset", "smoke", "--only", "99"],
            "error: no notebook to run (only: ['99'])",
        ),
        (
            ["--preset", "seeds-cpu", "--set", "n_models=1"],
            "error: n_models = 1: must be >= 2",
        ),
        (
            ["--preset", "smoke", "--set", "notebooks=04"],
            "error: notebooks = 4: must be a list of notebook names",
        ),
    ],
)
def test_the_suite_refuses_bad_input_before_any_notebook(
    tmp_path, capsys, args, message
):
    code = suite.main([*args, "--runs-dir", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith(message)
    assert "running" not in captured.out
    assert not (tmp_path / "runs").exists()  # no run folder was made


def test_a_preset_can_name_the_notebooks_it_is_for():
    runs = suite.plan(ROOT, "seeds-cpu", {}, [])
    assert [nb.stem for nb, _ in runs] == ["04_seed_variance"]
    assert "notebooks" not in runs[0][1]
    everything = suite.plan(ROOT, "smoke", {}, [])
    assert len(everything) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))


def test_make_report_with_an_unknown_preset_fails_before_any_notebook():
    done = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "report", "PRESET=nosuch"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode != 0
    assert f"error: preset 'nosuch' not found; known presets: {PRESETS}" in (
        done.stderr
    )
    assert "Executing" not in done.stdout + done.stderr


def test_a_misspelt_parameter_stops_a_notebook_run_by_papermill_directly(tmp_path):
    notebook = ROOT / "notebooks" / "01_agreement.ipynb"
    output = tmp_path / "01_agreement.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"epoch": 1, "dataset": "synthetic", "run_dir": str(tmp_path)},
            cwd=str(notebook.parent),  # kernel: the one the notebook names
            progress_bar=False,
        )
    assert caught.value.ename == "ParameterError"
    assert caught.value.evalue.startswith(
        "epoch = 1: unknown parameter (did you mean epochs?); allowed: "
    )
    assert output.is_file()  # papermill kept the copy with the error
    assert not (tmp_path / "metrics.json").exists()


def answer(function, value):
    """A stand-in for `function` that returns `value` (torch's tracer reads
    `__wrapped__` of these functions, so it is kept)."""
    return functools.wraps(function)(lambda: value)


def without(monkeypatch, *devices):
    """Make `devices` look absent on this machine."""
    if "cuda" in devices:
        monkeypatch.setattr(
            torch.cuda, "is_available", answer(torch.cuda.is_available, False)
        )
    if "mps" in devices:
        mps = torch.backends.mps
        monkeypatch.setattr(mps, "is_available", answer(mps.is_available, False))


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (
            "cuda",
            "device = 'cuda': no CUDA device is available here (available: cpu); "
            "use device='auto' or 'cpu'",
        ),
        (
            "mps",
            "device = 'mps': no Apple MPS device is available here (available: cpu); "
            "use device='auto' or 'cpu'",
        ),
    ],
)
def test_an_absent_device_is_refused(monkeypatch, device, message):
    without(monkeypatch, "cuda", "mps")
    with pytest.raises(ParameterError) as caught:
        config.resolve_device(device)
    assert str(caught.value) == message


def test_auto_picks_the_best_device_and_says_which(monkeypatch, caplog, tmp_path):
    without(monkeypatch, "cuda", "mps")
    with caplog.at_level(logging.INFO, logger="cifarstudy.config"):
        device = config.resolve_device("auto")
    assert device == torch.device("cpu")
    choice = "cpu, chosen by auto: no cuda or mps device here"
    assert caplog.messages == [f"device = 'auto': using {choice}"]

    cfg = StudyConfig(device="auto", run_dir=str(tmp_path), dataset="synthetic")
    table = report.Run.start("00_test", cfg, device).provenance_markdown()
    assert f"| device | {choice} (CPU " in table


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(
        torch.cuda, "is_available", answer(torch.cuda.is_available, True)
    )
    assert config.available_devices()[0] == "cuda"
    assert config.describe_choice("auto", "cuda") == (
        "cuda, chosen by auto as the best device here"
    )
    without(monkeypatch, "cuda")
    mps = torch.backends.mps
    monkeypatch.setattr(mps, "is_available", answer(mps.is_available, True))
    assert config.available_devices() == ["mps", "cpu"]
