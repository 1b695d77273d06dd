"""Execute the study notebooks with papermill into a new dated run folder.

    python -m cifarstudy.suite --preset smoke --set epochs=1 --set device=cpu

Parameters come from `params/<preset>.yaml`, then each `--set name=value`
(values are read as YAML: `init_seeds=[3,4]`, `lr=0.01`). All of them are
checked before any notebook starts (exit status 2). Each executed notebook is
rendered to HTML beside it. A notebook that fails keeps its executed copy with
the error; the others still run, and the exit status is 1. Ctrl-C or SIGTERM
stops the run (exit status 130 or 143) with the interrupted notebook's copy
kept. The run folder's `run.json` and `runs/index.html` record every outcome.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import signal
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from . import runindex
from .config import ParameterError, StudyConfig, project_root, unknown_parameter
from .report import new_run_dir, render_html

log = logging.getLogger("cifarstudy.suite")

FALLBACK_KERNEL = "python3"  # the Python that runs the suite, where ipykernel is


@dataclass
class Outcome:
    """What became of one notebook of a suite run."""

    notebook: str
    output: Path  # the executed copy
    status: str = "not run"  # passed, failed, interrupted or not run
    seconds: float = 0.0
    error: str = ""  # the error line of a failed notebook
    html: Path | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "ipynb": self.output.name if self.output.exists() else "",
            "html": self.html.name if self.html else "",
        }


class Interrupted(KeyboardInterrupt):
    """SIGTERM reached the suite; handled like Ctrl-C."""


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def load_preset(root: Path, preset: str) -> dict[str, Any]:
    """The contents of `params/<preset>.yaml`: parameters, and maybe `notebooks`."""
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

    try:
        return set(papermill.inspect_notebook(str(notebook)))
    except Exception as error:  # not JSON, no kernel language, ...
        raise ParameterError(
            f"{notebook}: its parameters cannot be read ({error})"
        ) from None


def study_parameters(root: Path, preset: str, overrides: dict[str, Any]):
    """The preset's parameters with `overrides` applied, and the notebooks the
    preset is for (its `notebooks` list; empty: all)."""
    params = {**load_preset(root, preset), **overrides}
    selection = params.pop("notebooks", [])
    if not isinstance(selection, list) or not all(
        isinstance(name, str) for name in selection
    ):
        raise ParameterError(
            f"notebooks = {selection!r}: must be a list of notebook names"
        )
    return params, selection


def plan(
    root: Path,
    preset: str,
    overrides: dict[str, Any],
    only: list[str],
    notebooks_dir: Path | None = None,
):
    """The notebooks to run and the parameters of each; raises on any bad input."""
    params, selection = study_parameters(root, preset, overrides)
    only = only or selection
    suite = sorted((notebooks_dir or root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    notebooks = [
        nb for nb in suite if not only or nb.stem in only or nb.stem[:2] in only
    ]
    if not notebooks:
        raise ParameterError(f"no notebook to run (only: {only or 'all'})")
    # a name is unknown when neither a schema nor a notebook of the suite knows
    # it; each notebook then gets only the names it declares
    declared = {nb: declared_parameters(nb) for nb in suite}
    schema_names = {f.name for schema in schemas() for f in fields(schema)}
    accepted = set().union(schema_names, *declared.values())
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise unknown_parameter(unknown[0], params[unknown[0]], accepted - {"run_dir"})
    for schema in schemas():  # type and range checks, before any run
        names = {f.name for f in fields(schema)}
        schema(**{name: value for name, value in params.items() if name in names})
    return [
        (nb, {k: v for k, v in params.items() if k in declared[nb]}) for nb in notebooks
    ]


def schemas() -> tuple[type, ...]:
    """The typed parameter schemas of the notebooks: shared, and the seed study's."""
    from .variance import SeedStudy

    return (StudyConfig, SeedStudy)


def kernel_for(notebook: Path) -> str:
    """The kernel the notebook names (`make` registers it in .venv), when it is
    installed here; otherwise the kernel of the Python running the suite."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    spec = nbformat.read(notebook, as_version=4).metadata.get("kernelspec", {})
    name = spec.get("name", FALLBACK_KERNEL)
    try:
        KernelSpecManager().get_kernel_spec(name)
        return name
    except NoSuchKernel:
        log.warning("kernel %r is not installed here; using %r", name, FALLBACK_KERNEL)
        return FALLBACK_KERNEL


def execute(notebook: Path, output: Path, params: dict[str, Any]) -> Outcome:
    """Run `notebook` into `output`; a failure is returned, Ctrl-C propagates."""
    import papermill

    start = time.perf_counter()
    log.info("running %s -> %s", notebook.name, output)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=params,
            kernel_name=kernel_for(notebook),
            cwd=str(notebook.parent),
            log_output=True,
            progress_bar=False,
        )
        status, error = "passed", ""
    except papermill.PapermillExecutionError as failure:
        status, error = "failed", f"{failure.ename}: {failure.evalue}"
    except Exception as failure:  # the kernel died, a bad notebook file, ...
        status, error = "failed", f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - start
    return Outcome(notebook.stem, output, status, seconds, error.strip().split("\n")[0])


def run_all(runs, run_dir: Path, record: dict[str, Any], with_code=False):
    """Execute every planned notebook into `run_dir`, keeping `run.json` current.

    Returns the outcomes and the number of the signal that stopped the run (0).
    """
    outcomes = [Outcome(nb.stem, run_dir / nb.name) for nb, _ in runs]

    def save(status: str) -> None:
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        notebooks = [o.as_record() for o in outcomes]
        runindex.write_run_record(
            run_dir,
            {**record, "status": status, "updated_at": now, "notebooks": notebooks},
        )

    current, started = None, 0.0
    try:
        for current, (nb, params) in zip(outcomes, runs):
            current.status, started = "running", time.perf_counter()
            save("running")
            done = execute(nb, current.output, {**params, "run_dir": str(run_dir)})
            current.status, current.seconds = done.status, done.seconds
            current.error = done.error
            current.html = _render(current.output, with_code)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM through Interrupted
        signum = stop.args[0] if isinstance(stop, Interrupted) else signal.SIGINT
        if current is not None and current.status == "running":
            current.status = "interrupted"
            current.seconds = time.perf_counter() - started
            current.error = f"interrupted by {signal.Signals(signum).name}"
            current.html = _render(current.output, with_code)
        save("interrupted")
        return outcomes, signum
    save("failed" if any(o.status == "failed" for o in outcomes) else "passed")
    return outcomes, 0


def _render(notebook: Path, with_code: bool) -> Path | None:
    """The HTML copy of an executed notebook, or None if there is none."""
    if not notebook.exists():
        return None
    try:
        return render_html(notebook, with_code)
    except Exception as error:  # a report without HTML is still a report
        log.warning("could not render %s to HTML: %s", notebook, error)
        return None


def summary(outcomes: list[Outcome], run_dir: Path) -> str:
    lines = [f"report: {run_dir}"]
    for o in outcomes:
        lines.append(f"  {o.status:<11} {o.notebook:<24} {o.seconds:8.1f} s")
        if o.status in ("failed", "interrupted") and o.output.exists():
            lines.append(f"      {o.status} copy: {o.output}")
        if o.error:
            lines.append(f"      {o.error}")
        if o.html:
            lines.append(f"      html: {o.html}")
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    shown = [f"{n} {s}" for s, n in counts.items() if n or s in ("passed", "failed")]
    lines.append(", ".join(shown))
    return "\n".join(lines)


STATUSES = ("passed", "failed", "interrupted", "not run")


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
    parser.add_argument(
        "--notebooks", default=None, help="folder of the notebooks (notebooks/)"
    )
    parser.add_argument(
        "--html-code", action="store_true", help="keep code cells in the HTML copies"
    )
    args = parser.parse_args(argv)

    root = project_root(Path(__file__).resolve().parent)
    notebooks_dir = Path(args.notebooks) if args.notebooks else None
    try:
        overrides = parse_overrides(
            [s for item in args.set for s in split_overrides(item)]
        )
        runs = plan(root, args.preset, overrides, args.only, notebooks_dir)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    runs_root = Path(args.runs_dir) if args.runs_dir else root / "runs"
    run_dir = new_run_dir(runs_root, args.preset)
    record = {
        "preset": args.preset,
        "overrides": overrides,
        "params": study_parameters(root, args.preset, overrides)[0],
        "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        outcomes, signum = run_all(runs, run_dir, record, args.html_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary(outcomes, run_dir))
    print(f"index: {runindex.rebuild(runs_root)}")
    if signum:
        return 128 + signum
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
