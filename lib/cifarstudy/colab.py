"""What every notebook needs to run in JupyterLab, under papermill and on Colab.

Each notebook opens with an "Open in Colab" badge and a setup cell. Both are
rendered here from one repository address and git ref, and written into the
notebooks by `python -m cifarstudy.colab` so that they never drift apart;
the tests check that every committed notebook matches.

The setup cell does nothing on a machine where the library is installed; in a
checkout where it is not, it imports it from `lib/`; on Colab it installs it
from the repository (keeping Colab's own torch) and works under /content.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPOSITORY = "https://github.com/cifarstudy/cifarstudy"  # where Colab installs from
REF = "main"  # branch, tag or commit the Colab badge and install point at
KERNEL = {
    "name": "cifarstudy",
    "display_name": "Python (cifarstudy)",
    "language": "python",
}
SETUP_TAG = "setup"

SETUP_CELL = """\
# setup: the library from this checkout, or installed from the repository on Colab
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = os.environ.get(
    "CIFARSTUDY_REPOSITORY", "{repository}"
)
REF = os.environ.get("CIFARSTUDY_REF", "{ref}")
if "google.colab" in sys.modules:  # keep Colab's torch: pin what is installed
    from importlib.metadata import version

    pins = Path("/tmp/cifarstudy-pins.txt")
    names = ("torch", "torchvision")
    pins.write_text("".join(f"{{n}}=={{version(n)}}\\n" for n in names))
    pip = [sys.executable, "-m", "pip", "install", "-q", "-c", str(pins)]
    subprocess.run([*pip, f"git+{{REPOSITORY}}@{{REF}}"], check=True)
    os.chdir(os.environ.get("CIFARSTUDY_COLAB_ROOT", "/content"))  # data/, runs/ here
else:  # a checkout: prefer its lib/ over any installed copy
    here = Path.cwd().resolve()
    found = [p for p in (here, *here.parents) if (p / "lib/cifarstudy").is_dir()]
    root = found[0] if found else None
    if root and str(root / "lib") not in sys.path:
        sys.path.insert(0, str(root / "lib"))
try:
    import cifarstudy
except ImportError:
    message = "cifarstudy not found: run `make lab` in the repository, then restart"
    raise ImportError(message) from None
print("cifarstudy", cifarstudy.__version__, "from", Path(cifarstudy.__file__).parent)"""


def colab_url(notebook: str, repository: str = REPOSITORY, ref: str = REF) -> str:
    """The address that opens `notebooks/<notebook>` from GitHub in Colab."""
    path = repository.removeprefix("https://github.com/").removesuffix(".git")
    site = "https://colab.research.google.com/github"
    return f"{site}/{path}/blob/{ref}/notebooks/{notebook}"


def badge(notebook: str) -> str:
    """Markdown of the "Open in Colab" badge for `notebook` (a file name)."""
    image = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![Open in Colab]({image})]({colab_url(notebook)})"


def setup_source() -> str:
    return SETUP_CELL.format(repository=REPOSITORY, ref=REF)


def notebook_metadata() -> dict:
    """Kernel and Colab settings every notebook carries (Colab: ask for a GPU)."""
    return {
        "kernelspec": dict(KERNEL),
        "language_info": {"name": "python"},
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4"},
    }


def sync(path: Path) -> bool:
    """Write the badge, setup cell and metadata into a notebook; True if changed."""
    notebook = nbformat.read(path, as_version=4)
    before = nbformat.writes(notebook)
    notebook.metadata.update(notebook_metadata())

    title = notebook.cells[0]
    lines = [
        line for line in title.source.splitlines() if "colab-badge.svg" not in line
    ]
    title.source = "\n".join([badge(path.name), "", *lines]).replace("\n\n\n", "\n\n")
    setup = [c for c in notebook.cells if SETUP_TAG in c.metadata.get("tags", [])]
    if not setup:
        cell = nbformat.v4.new_code_cell(metadata={"tags": [SETUP_TAG]})
        cell["id"] = "setup"
        notebook.cells.insert(1, cell)
        setup = [cell]
    setup[0].source = setup_source()

    changed = nbformat.writes(notebook) != before
    if changed:
        nbformat.write(notebook, path)
    return changed


def problems(path: Path) -> list[str]:
    """What is wrong with a committed notebook (empty when nothing is)."""
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    setup = [c for c in code if SETUP_TAG in c.metadata.get("tags", [])]
    found = []
    if len(tagged) != 1:
        found.append(f"{len(tagged)} cells tagged 'parameters' (need exactly 1)")
    if any(c.outputs or c.execution_count for c in code):
        found.append("outputs or execution counts committed")
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL["name"]:
        found.append(f"kernel {kernel!r} (need {KERNEL['name']!r})")
    if len(setup) != 1 or setup[0].source != setup_source():
        found.append("setup cell missing or out of date")
    if badge(path.name) not in notebook.cells[0].source:
        found.append("Open in Colab badge missing or out of date")
    return [f"{path.name}: {p}" for p in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cifarstudy.colab", description=__doc__.splitlines()[0]
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="report problems instead of writing"
    )
    args = parser.parse_args(argv)
    if args.check:
        found = [p for path in args.notebooks for p in problems(path)]
        print("\n".join(found) or "all notebooks ok")
        return 1 if found else 0
    for path in args.notebooks:
        print(f"{path}: {'updated' if sync(path) else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
