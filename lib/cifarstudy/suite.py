"""Execute the study notebooks with papermill into a new dated run folder.

    python -m cifarstudy.suite --preset smoke --set epochs=1 --set device=cpu

Parameters come from `params/<preset>.yaml`, then each `--set name=value`
(values are read as YAML: `init_seeds=[3,4]`, `lr=0.01`). All of them are
checked before any notebook starts. A notebook that fails keeps its executed
copy with the error; the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import ParameterError, StudyConfig, project_root
from .report import new_run_dir

log = logging.getLogger("cifarstudy.suite")

KERNEL = "python3"  # the kernel of the Python that runs the suite


@dataclass
class Outcome:
    notebook: str
    output: Path
    seconds: float
    error: str = ""


def load_preset(root: Path, preset: str) -> dict[str, Any]:
    path = root / "params" / f"{preset}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / "params").glob("*.yaml"))
        raise ParameterError(
            f"preset {preset!r} not found; known presets: {', '.join(known)}"
        )
    return yaml.safe_load(path.read_text()) or {}


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`name=value` strings -> {name: value}, each value parsed as YAML."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ParameterError(f"override {item!r}: must look like name=value")
        try:
            out[name.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as error:
            raise ParameterError(
                f"override {item!r}: value is not valid ({error})"
            ) from None
    return out


def split_overrides(text: str) -> list[str]:
    """`"epochs=1 init_seeds=[0, 1]"` -> ["epochs=1", "init_seeds=[0, 1]"]."""
    return [part for part in re.split(r"\s+(?=[A-Za-z_]\w*=)", text.strip()) if part]


def declared_parameters(notebook: Path) -> set[str]:
    """Names defined in the notebook's cell tagged `parameters`."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def plan(root: Path, preset: str, overrides: dict[str, Any], only: list[str]):
    """The notebooks to run and the parameters of each; raises on any bad input."""
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if nb.stem in only or nb.stem[:2] in only]
        if not notebooks:
            raise ParameterError(f"no notebook matches {only}")
    params = {**load_preset(root, preset), **overrides}
    declared = {nb: declared_parameters(nb) for nb in notebooks}
    unknown = set(params) - set().union(*declared.values())
    if unknown:
        allowed = ", ".join(sorted(set().union(*declared.values()) - {"run_dir"}))
        raise ParameterError(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"the notebooks accept: {allowed}"
        )
    StudyConfig.from_namespace(params)  # type and range checks, before any run
    return [
        (nb, {k: v for k, v in params.items() if k in declared[nb]}) for nb in notebooks
    ]


def execute(notebook: Path, output: Path, params: dict[str, Any]) -> Outcome:
    import papermill

    start = time.perf_counter()
    log.info("running %s -> %s", notebook.name, output)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=params,
            kernel_name=KERNEL,
            cwd=str(notebook.parent),
            log_output=True,
            progress_bar=False,
        )
        error = ""
    except papermill.PapermillExecutionError as failure:
        error = f"{failure.ename}: {failure.evalue}".splitlines()[0]
    return Outcome(notebook.stem, output, time.perf_counter() - start, error)


def summary(outcomes: list[Outcome], run_dir: Path) -> str:
    lines = [f"report: {run_dir}"]
    for o in outcomes:
        status = "ok    " if not o.error else "FAILED"
        lines.append(f"  {status} {o.notebook:<28} {o.seconds:8.1f} s  {o.output}")
        if o.error:
            lines.append(f"         {o.error}")
    failed = sum(1 for o in outcomes if o.error)
    lines.append(f"{len(outcomes) - failed} passed, {failed} failed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cifarstudy.suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", default="default", help="params/<preset>.yaml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one parameter (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NOTEBOOK",
        help="run only this notebook (name or number; repeatable)",
    )
    parser.add_argument("--runs-dir", default=None, help="where run folders go (runs/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    root = project_root(Path(__file__).resolve().parent)
    try:
        overrides = parse_overrides(
            [s for item in args.set for s in split_overrides(item)]
        )
        runs = plan(root, args.preset, overrides, args.only)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    run_dir = new_run_dir(
        Path(args.runs_dir) if args.runs_dir else root / "runs", args.preset
    )
    outcomes = [
        execute(nb, run_dir / nb.name, {**params, "run_dir": str(run_dir)})
        for nb, params in runs
    ]
    print(summary(outcomes, run_dir))
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
