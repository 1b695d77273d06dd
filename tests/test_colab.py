"""The notebooks as JupyterLab and Colab users run them, outside papermill's suite."""

import json
import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cifarstudy import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# the packages of this environment that a fresh one may borrow: all but the library
# and the installer, so the Colab branch really has to install cifarstudy itself
NOT_BORROWED = (
    "cifarstudy",
    "__editable__",
    "pip",
    "setuptools",
    "_distutils_hack",
    "distutils-precedence",
    "pkg_resources",
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_stripped_tagged_and_names_the_kernel(path):
    assert colab.problems(path) == []


def test_problems_catch_what_a_save_from_colab_does(tmp_path):
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    for cell in notebook.cells:
        cell.metadata.pop("tags", None)
    notebook.cells[2].execution_count = 1
    saved = tmp_path / NOTEBOOKS[0].name
    nbformat.write(notebook, saved)

    found = colab.problems(saved)
    assert any("0 cells tagged 'parameters'" in p for p in found)
    assert any("outputs or execution counts" in p for p in found)
    assert any("kernel 'python3'" in p for p in found)
    assert any("setup cell missing" in p for p in found)


def test_badge_opens_the_notebook_from_the_repository():
    url = colab.colab_url("01_agreement.ipynb", "https://github.com/org/repo", "v1")
    assert url == (
        "https://colab.research.google.com/github/org/repo/blob/v1/"
        "notebooks/01_agreement.ipynb"
    )


def smoke_parameters(notebook, **values):
    """Rewrite the parameters cell's assignments, as a user editing it would."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    lines = []
    for line in cell.source.splitlines():
        name = line.split(":")[0].split("=")[0].strip()
        if name in values and not line.startswith("#"):
            line = f"{name} = {values[name]!r}"
        lines.append(line)
    cell.source = "\n".join(lines)


def test_nbclient_runs_a_notebook_with_its_defaults_on_synthetic_data(tmp_path):
    """As JupyterLab runs it: no papermill, no injected cell, the named kernel."""
    notebook = nbformat.read(ROOT / "notebooks" / "01_agreement.ipynb", as_version=4)
    smoke_parameters(
        notebook,
        dataset="synthetic",
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
    )
    NotebookClient(
        notebook, timeout=900, resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()

    figures = json.loads((tmp_path / "run" / "metrics.json").read_text())
    params = figures["01_agreement"]["params"]
    assert (params["epochs"], params["batch_size"], params["lr"]) == (5, 4, 0.001)
    assert all(acc > 30.0 for acc in figures["01_agreement"]["accuracy"].values())


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """A new virtual environment without cifarstudy, borrowing torch and friends."""
    base = tmp_path_factory.mktemp("colab")
    env = base / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    borrowed = base / "borrowed"
    borrowed.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(NOT_BORROWED) and entry.suffix != ".pth":
            (borrowed / entry.name).symlink_to(entry)
    (Path(site) / "borrowed.pth").write_text(f"{borrowed}\n")
    return python, Path(site)


def test_setup_cell_without_install_imports_the_checkout_library(fresh_env, tmp_path):
    python, _ = fresh_env
    found = subprocess.run(
        [python, "-c", colab.setup_source()],
        cwd=ROOT / "notebooks",
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    assert f"from {ROOT / 'lib' / 'cifarstudy'}" in found.stdout

    lost = subprocess.run(
        [python, "-c", colab.setup_source()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert lost.returncode != 0
    assert "cifarstudy not found: run `make lab`" in lost.stderr


def test_colab_branch_installs_the_library_from_the_repository(fresh_env, tmp_path):
    python, site = fresh_env
    repo, content = tmp_path / "repo", tmp_path / "content"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    standin = tmp_path / "standin"  # Colab imports google.colab before any cell runs
    (standin / "google" / "colab").mkdir(parents=True)
    (standin / "google" / "__init__.py").touch()
    (standin / "google" / "colab" / "__init__.py").touch()
    (standin / "sitecustomize.py").write_text("import google.colab\n")
    content.mkdir()

    env = {
        **os.environ,
        "PYTHONPATH": str(standin),
        "CIFARSTUDY_REPOSITORY": f"file://{repo}",
        "CIFARSTUDY_REF": commit,
        "CIFARSTUDY_COLAB_ROOT": str(content),
    }
    smoke = [
        "-p",
        "dataset",
        "synthetic",
        "-p",
        "epochs",
        "1",
        "-p",
        "batch_size",
        "16",
        "-p",
        "lr",
        "0.01",
        "-p",
        "device",
        "cpu",
    ]
    output = tmp_path / "out.ipynb"
    ran = subprocess.run(
        [
            python,
            "-m",
            "papermill",
            str(repo / "notebooks" / "01_agreement.ipynb"),
            str(output),
            "-k",
            "python3",
            "--cwd",
            str(tmp_path),
            *smoke,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]

    installed = json.loads(
        next(site.glob("cifarstudy-*.dist-info"))
        .joinpath("direct_url.json")
        .read_text()
    )
    assert installed["url"] == f"file://{repo}"
    assert installed["vcs_info"]["commit_id"] == commit
    executed = nbformat.read(output, as_version=4)
    setup = next(c for c in executed.cells if "setup" in c.metadata.get("tags", []))
    printed = "".join(out.get("text", "") for out in setup.outputs)
    assert f"from {site / 'cifarstudy'}" in printed
    reports = list(content.glob("runs/*/*/metrics.json"))  # runs under the Colab root
    assert len(reports) == 1
    assert "01_agreement" in json.loads(reports[0].read_text())
