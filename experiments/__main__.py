"""Runs every experiment (or ``--only`` some) at one scale, then writes ``REPORT.md`` from the saved results.

Command::

    python -m experiments [--scale smoke|default|paper] [--out figures/] [--only fig1,fig4] [--force]
                          [--data-dir DIR] [--no-progress] [--no-report] [--mesh] [--debug]

An experiment whose saved results (``<out>/<name>.json``) were produced with the same config and the same
code (a hash of the package and experiment sources) is skipped unless ``--force`` (``framework.cli.FORCE_HELP``:
the one meaning of ``--force``, here and in every ``python -m experiments.<name>``: recompute from scratch,
reusing neither up-to-date results nor a partial checkpoint). An unknown name in ``--only`` prints one line
``error: …`` with the closest valid names and exits with status 2 before anything runs. A failing experiment is
reported and the others still run: an expected error (missing or corrupt dataset, invalid config;
``framework.cli.EXPECTED_ERRORS``) as one line ``error: <experiment>: …`` on stderr (with its traceback only
under ``--debug``), any other failure with its traceback. The exit code is 0 if all succeeded, 2 if the
only failures were expected errors, 1 otherwise. A summary table (experiment,
status, wall time) is printed at the end. Also installed as the console script
``spectral-layers-experiments``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

import experiments
from experiments.framework import cli as fw

DESCRIPTION = """\
Runs every experiment (or --only some) at one scale, saves each one's results and figure in --out,
then writes REPORT.md there from the saved results. An experiment whose saved results match its
config and code is skipped unless --force. One experiment: python -m experiments.<name> --help lists
its config fields. Exit status: 0 if all succeeded, 2 for an unknown name or if the only failures were
expected errors (missing dataset, invalid config), 1 otherwise."""


def _select(only: str | None) -> list[str]:
    """The experiments named by ``--only`` (names or prefixes) in run order; exits 2 on an unknown one."""
    if not only:
        return list(experiments.ALL)
    chosen = []
    for token in (t.strip() for t in only.split(",") if t.strip()):
        matches = [n for n in experiments.ALL if n == token or n.startswith(token + "_")]
        if not matches:
            msg = fw.unknown_name_message("experiment", token, experiments.ALL)
            print(f"error: --only: no experiment matches: {msg}", file=sys.stderr)
            raise SystemExit(2)
        chosen += [m for m in matches if m not in chosen]
    return chosen


def experiment_list() -> str:
    """One line per experiment, in run order: its name and its one-line description (``--help`` epilog)."""
    width = max(len(n) for n in experiments.ALL)
    lines = ["experiments (run order; --only takes names or prefixes such as fig1):"]
    for name in experiments.ALL:
        exp = importlib.import_module(f"experiments.{name}").EXPERIMENT
        lines.append(f"  {name:<{width}}  {fw.plain_text(exp.description)}")
    return "\n".join(lines)


def up_to_date(name: str, out: Path, scale: str, data_dir: Path | None) -> bool:
    """Whether ``<out>/<name>.json`` holds results for the same config and code, with figures present."""
    meta_path = out / f"{name}.json"
    if not all((out / f"{name}{s}").exists() for s in (".json", ".npz", ".png", ".pdf")):
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    exp = importlib.import_module(f"experiments.{name}").EXPERIMENT
    overrides = {}
    if data_dir is not None and "data_dir" in {f for f in meta.get("config", {})}:
        overrides["data_dir"] = str(data_dir)
    try:
        cfg = exp.config(scale, **overrides)
    except (TypeError, ValueError):
        return False
    return (
        meta.get("config_hash") == fw.config_hash(cfg) and meta.get("code_hash") == fw.code_hash()
    )


def main(argv: list[str] | None = None) -> int:
    """Runs the selected experiments; returns the process exit code (0 if all succeeded)."""
    p = argparse.ArgumentParser(
        prog="python -m experiments",
        description=DESCRIPTION,
        epilog=experiment_list()
        if {"-h", "--help"} & set(sys.argv[1:] if argv is None else argv)
        else None,
        formatter_class=fw.HelpFormatter,
    )
    p.add_argument(
        "--scale",
        choices=fw.SCALES,
        default="default",
        help="smoke: seconds (tests); default: minutes on a 2-core CPU; paper: the paper's sizes",
    )
    p.add_argument(
        "--out", type=Path, default=fw.DEFAULT_OUT, help="output directory of results and figures"
    )
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated experiment names or prefixes (fig1,fig4); None: all",
    )
    p.add_argument("--force", action="store_true", help=fw.FORCE_HELP)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local dataset directory holding mnist/ and cifar-10-batches-py/; None: download",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="do not write REPORT.md")
    p.add_argument("--mesh", action="store_true", help="shard Grams over every device")
    p.add_argument("--debug", action="store_true", help="tracebacks of expected errors too")
    args = p.parse_args(argv)
    names = _select(args.only)
    rows = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name}", file=sys.stderr, flush=True)
        if not args.force and up_to_date(name, args.out, args.scale, args.data_dir):
            rows.append((name, "up to date (skipped)", 0.0))
            continue
        exp = importlib.import_module(f"experiments.{name}").EXPERIMENT
        cli = ["--scale", args.scale, "--out", str(args.out)]
        cli.append("--debug")  # expected errors reach the runner as exceptions
        for flag in ("no_progress", "mesh"):
            if getattr(args, flag):
                cli.append("--" + flag.replace("_", "-"))
        if args.force:
            cli.append("--force")
        if args.data_dir is not None and exp.uses_data:
            cli += ["--data-dir", str(args.data_dir)]
        t0 = time.perf_counter()
        try:
            fw.main(exp, cli)
            rows.append((name, "ok", time.perf_counter() - t0))
        except fw.EXPECTED_ERRORS as e:  # one failure must not stop the others
            if args.debug:
                traceback.print_exc()
            print(f"error: {name}: {fw.error_line(e)}", file=sys.stderr, flush=True)
            rows.append((name, f"error: {fw.error_line(e)}"[:80], time.perf_counter() - t0))
        except (Exception, SystemExit) as e:
            traceback.print_exc()
            rows.append(
                (
                    name,
                    f"FAILED: {type(e).__name__}: {e}".splitlines()[0][:80],
                    time.perf_counter() - t0,
                )
            )
    if not args.no_report:
        from experiments.framework.report import write_report

        report = write_report(args.out)
        print(f"report: {report}", file=sys.stderr)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'experiment':<{width}}  {'wall (s)':>9}  status")
    for name, status, wall in rows:
        print(f"{name:<{width}}  {wall:9.1f}  {status}")
    failed = [r for r in rows if r[1].startswith("FAILED")]
    errors = [r for r in rows if r[1].startswith("error:")]
    print(
        f"\n{len(rows) - len(failed) - len(errors)} succeeded, {len(failed) + len(errors)} failed"
    )
    return 1 if failed else 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
