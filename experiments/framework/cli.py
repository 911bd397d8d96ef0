"""The experiment framework: one CLI, saved results, resumable seed loops, one figure style.

Every experiment module defines an ``EXPERIMENT = Experiment(...)`` with

* ``config_cls``: a frozen dataclass (one comment per field, a ``seed`` and a ``num_seeds``), validated in
  ``__post_init__`` so bad values fail before any work;
* ``scales``: field overrides for ``smoke`` (seconds, for tests) and ``paper`` (the paper's sizes, for a GPU);
  ``default`` (minutes on a 2-core CPU) is the dataclass defaults plus ``scales.get("default", {})``;
* ``run(cfg, ctx) -> dict[str, np.ndarray]`` and ``plot(results, cfg) -> Figure``.

and ``main(argv=None)`` that calls ``framework.main(EXPERIMENT, argv)``. The CLI::

    python -m experiments.<name> [--scale smoke|default|paper] [--out DIR] [--seeds N] [--seed S]
                                 [--set FIELD=VALUE ...] [--plot-only] [--x64] [--force] [--no-progress]
                                 [--data-dir DIR] [--mesh] [--distributed [--coordinator HOST:PORT
                                 --num-processes N --process-id I]] [--debug]

Results go to ``DIR/<name>.npz`` + ``DIR/<name>.json`` (config, versions, device, git revision, wall time,
seeds), written atomically; figures to ``DIR/<name>.pdf`` and ``.png``. Seed loops checkpoint finished seeds to
``DIR/<name>.partial.npz``: a killed run restarted with the same config resumes from there and gives the same
numbers (seed ``s`` always uses ``jax.random.fold_in(key(seed), s)``, whatever the chunking).

Scale-out: ``--mesh`` shards the experiment's Grams and contributions over every device (``RunContext.mesh``,
passed as ``mesh=`` to ``layer_ntk`` / ``layer_contributions``); ``--distributed`` first joins JAX's
distributed runtime (``spectral_layers.distributed.initialize``: the cluster is detected as
``jax.distributed.initialize`` does, or given by ``--coordinator/--num-processes/--process-id``) and implies
``--mesh`` over the devices of all processes; every process runs the experiment, only process 0 writes
results, checkpoints and figures (a multi-process run does not resume from a checkpoint).
``python -m experiments.framework.launch`` starts such a run as local processes on one machine.

Errors: an expected error (a dataset missing, corrupt or failing its checksum, ``DatasetError``; an invalid
config or argument, ``ValueError`` / ``TypeError``; ``--plot-only`` without saved results) prints one line
``error: …`` on stderr and exits with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import hashlib
import inspect
import io
import json
import re
import sys
import textwrap
import time
import tokenize
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spectral_layers.data import DatasetError

SCALES = ("smoke", "default", "paper")
DEFAULT_OUT = Path("figures")
EXPECTED_ERRORS = (DatasetError, ValueError, TypeError, FileNotFoundError)
"""Errors of the user's input or environment: one ``error:`` line and exit status 2 (traceback: ``--debug``)."""


FORCE_HELP = (
    "recompute from scratch: reuse nothing saved in --out (neither up-to-date results, which "
    "python -m experiments otherwise skips, nor a partial checkpoint, from which an interrupted run "
    "otherwise resumes)"
)
"""The one meaning of ``--force``, in ``python -m experiments`` and in every ``python -m experiments.<name>``."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, and descriptions / epilogs kept as written (plain text)."""


def closest(name: str, choices: Sequence[str], n: int = 3) -> list[str]:
    """The valid names closest to a misspelt ``name`` (``difflib``; prefixes count: ``fig22`` → ``fig2_…``)."""

    def score(c: str) -> float:
        whole = difflib.SequenceMatcher(None, name, c).ratio()
        head = difflib.SequenceMatcher(None, name, c[: len(name)]).ratio()
        return max(whole, head)

    ranked = sorted(choices, key=lambda c: (-score(c), c))
    return [c for c in ranked[:n] if score(c) >= 0.5]


def unknown_name_message(kind: str, name: str, choices: Sequence[str]) -> str:
    """``unknown <kind> 'name'; did you mean a, b? (known: …)``: one line, with the closest valid names."""
    near = closest(name, choices)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(choices)})"


def summary_line(doc: str) -> str:
    """A docstring's first paragraph on one line (an experiment's description: ``--help``, REPORT.md)."""
    return " ".join(doc.strip().split("\n\n")[0].split())


def plain_text(text: str) -> str:
    """``text`` without reStructuredText inline markup (double backticks), for ``--help``."""
    return text.replace("``", "")


def error_line(e: BaseException) -> str:
    """``e``'s message on one line (``error: …`` on the command line)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = ""
    for i, line in enumerate(lines):
        text += ("" if i == 0 else " " if lines[i - 1].endswith(":") else "; ") + line
    return text or type(e).__name__


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An experiment: its name, config class, scales, ``run`` and ``plot`` (module docstring)."""

    name: str
    config_cls: type
    run: Callable[[Any, RunContext], dict[str, np.ndarray]]
    plot: Callable[[Mapping[str, np.ndarray], Any], Any]
    scales: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    description: str = ""
    x64_default: bool = False
    caption: str = ""  # one or two sentences for README / REPORT.md: what the figure shows
    summarize: Callable[[Mapping[str, np.ndarray], Any], list[dict[str, Any]]] | None = None
    # ``summarize(results, cfg)`` -> rows {"check", "measured", "expected", "verdict"} for REPORT.md
    panel_ratios: (
        Callable[[Mapping[str, np.ndarray], Any], tuple[list[str], np.ndarray, np.ndarray]] | None
    ) = None
    # ``panel_ratios(results, cfg)`` -> (panel names, finite (P, D, K, L-1), ∞-width (P, D, K, L-1)): the
    # per-draw ratios whose claims are judged (protocols with layer-ratio panels; ``protocol_sensitivity``)

    @property
    def uses_data(self) -> bool:
        """Whether the experiment reads a dataset (has a ``data_dir`` config field)."""
        return any(f.name == "data_dir" for f in dataclasses.fields(self.config_cls))

    def main(self, argv: list[str] | None = None) -> dict[str, np.ndarray]:
        """Runs the experiment from the command line (``python -m experiments.<name>``; module docstring)."""
        return main(self, argv)

    def config(self, scale: str = "default", **overrides: Any):
        """The config at ``scale`` with ``overrides`` applied (validated by the dataclass)."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        values = {
            **self.scales.get("default", {}),
            **(self.scales.get(scale, {}) if scale != "default" else {}),
            **overrides,
        }
        return build_config(self.config_cls, values, name=self.name)


def define(
    name: str,
    namespace: Mapping[str, Any],
    *,
    scales: Mapping[str, Mapping[str, Any]],
    x64_default: bool = True,
    description: str | None = None,
) -> Experiment:
    """The ``Experiment`` of a protocol module, from the names it defines (call with ``globals()``).

    Takes ``Config``, ``run``, ``plot``, ``summarize`` (optional), ``CAPTION`` (optional) and the module
    docstring's first line as the description: every protocol module defines them the same way, so its
    registration is one line, ``EXPERIMENT = define("<name>", globals(), scales={...})``. A shared protocol
    module (``sphere``, ``realdata``) registers each of its figures with the figure's own ``description``.
    """
    return Experiment(
        name=name,
        config_cls=namespace["Config"],
        run=namespace["run"],
        plot=namespace["plot"],
        scales=scales,
        description=description or summary_line(namespace.get("__doc__") or name),
        x64_default=x64_default,
        caption=namespace.get("CAPTION", ""),
        summarize=namespace.get("summarize"),
        panel_ratios=namespace.get("panel_ratios"),
    )


def registered(name: str) -> Experiment:
    """The ``Experiment`` registered as ``name`` (``experiments.<name>``'s ``EXPERIMENT``; the runner's lookup).

    Raises:
      ValueError: no experiment of that name is registered.
    """
    import importlib

    import experiments

    if name not in experiments.ALL:
        raise ValueError(unknown_name_message("experiment", name, experiments.ALL))
    return importlib.import_module(f"experiments.{name}").EXPERIMENT


@dataclasses.dataclass
class RunContext:
    """What ``run`` gets besides its config: where to checkpoint, whether to show progress, the mesh."""

    name: str
    out_dir: Path | None = None
    progress: bool = True
    force: bool = False
    mesh: Any = None  # a jax.sharding.Mesh: pass mesh=ctx.mesh to layer_ntk / layer_contributions
    writer: bool = True  # this process writes checkpoints (process 0 of a multi-process run)
    resume: bool = (
        True  # resume from a checkpoint (off in multi-process runs: every process must agree)
    )

    def gather(self, tree: Any) -> Any:
        """``tree`` unchanged without a mesh; with one, its arrays as NumPy arrays in every process.

        Wrap a ``layer_ntk(..., mesh=ctx.mesh)`` result in it before NumPy code: across processes a
        row-sharded Gram is held by no single process (``spectral_layers.sharding.gather``).
        """
        if self.mesh is None:
            return tree
        from spectral_layers.sharding import gather

        return gather(tree)

    def seed_loop(
        self,
        cfg: Any,
        fn: Callable[[np.ndarray], Mapping[str, Any]],
        *,
        num_seeds: int,
        chunk: int,
        desc: str = "seeds",
    ) -> dict[str, np.ndarray]:
        """Runs ``fn(seed_indices)`` over ``range(num_seeds)`` in chunks, checkpointing after each chunk.

        ``fn`` returns arrays with a leading axis of length ``len(seed_indices)``; the result stacks them over
        all seeds. With an ``out_dir``, finished chunks are saved to ``<name>.partial.npz`` (with a hash of
        ``cfg``); a restarted run with the same config resumes after the last saved seed.
        """
        from experiments.framework.results import load_npz, save_npz

        partial = None if self.out_dir is None else self.out_dir / f"{self.name}.partial.npz"
        key = config_hash(cfg)
        done: dict[str, np.ndarray] = {}
        if partial is not None and partial.exists() and not self.force and self.resume:
            saved = load_npz(partial)
            if str(saved.pop("__config_hash__")) == key:
                done = saved
                print(
                    f"[{self.name}] resuming from {partial} "
                    f"({len(next(iter(done.values())))} of {num_seeds} seeds done)",
                    file=sys.stderr,
                )
        start = len(next(iter(done.values()))) if done else 0
        starts = list(range(start, num_seeds, chunk))
        for s0 in _progress(
            starts, self.progress, desc=f"{self.name}: {desc}", total_seeds=num_seeds, chunk=chunk
        ):
            idx = np.arange(s0, min(s0 + chunk, num_seeds))
            out = {k: np.asarray(v) for k, v in fn(idx).items()}
            done = out if not done else {k: np.concatenate([done[k], out[k]]) for k in out}
            if partial is not None and self.writer:
                save_npz(partial, {**done, "__config_hash__": np.array(key)})
        return done

    def finish(self) -> None:
        """Removes the seed checkpoint once the final results are saved."""
        if self.out_dir is not None and self.writer:
            (self.out_dir / f"{self.name}.partial.npz").unlink(missing_ok=True)


def _progress(items, enabled, *, desc, total_seeds, chunk):
    if not enabled or len(items) <= 1:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=f"×{chunk} seeds", file=sys.stderr, leave=False)


def check_counts(cfg: Any, *names: str) -> None:
    """Raises ``ValueError`` naming the first field of ``cfg`` in ``names`` that is not an integer ``>= 1``.

    For the counts of every config (``num_draws``, ``num_seeds``, ``seed_chunk``, ``num_points``, …), called
    from its ``__post_init__``.
    """
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def config_hash(cfg: Any) -> str:
    """A short hash of a config's fields (used to match checkpoints and saved results)."""
    blob = json.dumps(config_to_dict(cfg), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_hash() -> str:
    """A hash of the package and experiment sources: saved results are stale when it changes."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for pkg in ("spectral_layers", "experiments"):
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_config(config_cls: type, values: Mapping[str, Any], *, name: str = "config"):
    """``config_cls(**values)`` where a key ``"a.b"`` sets field ``b`` of the nested dataclass field ``a``.

    Nested fields (e.g. ``network: Network``) start from the field's default and take the dotted keys
    (``{"network.width": 16}``) in order, so scales and ``--set network.width=256`` change one setting of
    the network and keep the others. Unknown names raise ``ValueError`` listing the known ones.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            known = known_fields(config_cls)
            raise ValueError(f"{name}: {unknown_name_message('config field', key, known)}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = value
    for head, changes in nested.items():
        base = flat.get(head, _field_default(fields[head]))
        if not dataclasses.is_dataclass(base):
            raise ValueError(f"config field {head!r} of {name} has no sub-fields")
        sub = {f.name for f in dataclasses.fields(base)}
        unknown = sorted(set(changes) - sub)
        if unknown:
            known = known_fields(config_cls)
            raise ValueError(
                f"{name}: {unknown_name_message('config field', f'{head}.{unknown[0]}', known)}"
            )
        flat[head] = dataclasses.replace(base, **changes)
    return config_cls(**flat)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def known_fields(config_cls: type) -> list[str]:
    """Every settable name of a config class, nested ones dotted (``network.width``)."""
    names = []
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            names += [f"{f.name}.{g.name}" for g in dataclasses.fields(tp)]
        else:
            names.append(f.name)
    return names


def _comment_docs(cls: type) -> dict[str, str]:
    """Field -> its comments in ``cls``'s source: inline ones, then comment lines right below it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = re.sub(r"^#\s*(noqa(:\s*[A-Z0-9, ]+)?(\([^)]*\))?)?", "", tok.string).strip()
            comments[tok.start[0]] = text
    lines = source.splitlines()
    (node,) = ast.parse(source).body
    stmts = [s for s in node.body if not isinstance(s, ast.Expr)]
    docs = {}
    for i, stmt in enumerate(stmts):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        end = stmts[i + 1].lineno if i + 1 < len(stmts) else len(lines) + 1
        found = [comments[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in comments]
        for n in range(stmt.end_lineno + 1, end):  # comment lines continuing the field's comment
            if not lines[n - 1].strip().startswith("#"):
                break
            found.append(comments[n])
        text = " ".join(t for t in found if t)
        if text:
            docs[stmt.target.id] = text
    return docs


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field -> its entry in the Google-style ``Attributes:`` section of ``cls``'s docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    docs: dict[str, str] = {}
    section, current = False, None
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            section = True
            continue
        if not section:
            continue
        if line and not line.startswith(" "):
            break
        m = re.match(r"^ {2,4}(\w+)(?: \(.*?\))?: (.*)$", line)
        if m:
            current = m.group(1)
            docs[current] = m.group(2).strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def field_docs(config_cls: type) -> dict[str, str]:
    """One line per field of a config dataclass: what it means, from the class itself (not written twice).

    A field's meaning is its comment in the class body (the comment on its line(s), continued by the comment
    lines right below it; ``noqa`` markers dropped), else its entry in the docstring's ``Attributes:``
    section; base classes first, so a subclass's comment wins. Nested dataclass fields are dotted
    (``network.width``), documented by the nested class.
    """
    own: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if dataclasses.is_dataclass(cls):
            own.update(_attribute_docs(cls))
            own.update(_comment_docs(cls))
    hints = typing.get_type_hints(config_cls)
    docs = {}
    for f in dataclasses.fields(config_cls):
        if dataclasses.is_dataclass(hints[f.name]):
            nested = field_docs(hints[f.name])
            for g in dataclasses.fields(hints[f.name]):
                docs[f"{f.name}.{g.name}"] = nested.get(g.name, "")
        else:
            docs[f.name] = own.get(f.name, "")
    return docs


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    text = re.sub(r"\b(?:[a-z_]\w*\.)+(?=[A-Za-z_])", "", str(tp))  # typing.Literal -> Literal
    return text.replace("NoneType", "None")


def _value_text(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(_value_text(x) for x in v)  # as --set takes it
    return getattr(v, "__name__", None) or str(v)


def config_help(exp: Experiment) -> str:
    """The ``--help`` epilog: every config field (``--set`` names) with type, default and meaning.

    Generated from the config dataclass (``field_docs``); the default is the one at ``--scale default``,
    followed by the smoke and paper values where those scales change it.
    """
    hints = typing.get_type_hints(exp.config_cls)
    docs = field_docs(exp.config_cls)
    per_scale = {}
    for scale in SCALES:
        try:
            cfg = exp.config(scale)
        except (TypeError, ValueError):  # a scale needing a setting (e.g. a dataset) is left out
            continue
        per_scale[scale] = config_to_dict(cfg)

    def value(scale: str, name: str) -> Any:
        v: Any = per_scale[scale]
        for part in name.split("."):
            v = v[part]
        return tuple(v) if isinstance(v, list) else v

    lines = [
        "config fields (set with --set FIELD=VALUE; default at --scale default, then the smoke / paper "
        "values where they differ):"
    ]
    base = "default" if "default" in per_scale else next(iter(per_scale), None)
    for name, meaning in docs.items():
        head, _, rest = name.partition(".")
        tp = typing.get_type_hints(hints[head])[rest] if rest else hints[head]
        text = f"  {name}: {_type_name(tp)}"
        if base is not None:
            text += f" = {_value_text(value(base, name))}"
            others = [
                f"{s}: {_value_text(value(s, name))}"
                for s in ("smoke", "paper")
                if s in per_scale and s != base and value(s, name) != value(base, name)
            ]
            if others:
                text += f" ({'; '.join(others)})"
        lines.append(text)
        lines += textwrap.wrap(
            plain_text(meaning), 96, initial_indent=" " * 6, subsequent_indent=" " * 6
        )
    return "\n".join(lines)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config's fields as JSON-friendly values (tuples become lists, nested dataclasses dicts)."""
    return {
        f.name: config_to_dict(v) if dataclasses.is_dataclass(v := getattr(cfg, f.name)) else v
        for f in dataclasses.fields(cfg)
    }


def config_from_dict(config_cls: type, values: Mapping[str, Any]):
    """Rebuilds a config from ``config_to_dict`` output (lists back to tuples, dicts to dataclasses)."""
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for f in dataclasses.fields(config_cls):
        if f.name in values:
            v, tp = values[f.name], hints[f.name]
            if dataclasses.is_dataclass(tp) and isinstance(v, Mapping):
                v = config_from_dict(tp, v)
            elif isinstance(v, list) and _is_tuple(tp):
                v = tuple(v)
            kwargs[f.name] = v
    return config_cls(**kwargs)


def _is_tuple(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(tp))
    return typing.get_origin(tp) is tuple or tp is tuple


def parse_value(config_cls: type, name: str, text: str) -> Any:
    """Parses ``text`` into the type of field ``name`` (int, float, bool, str, tuples, optional).

    ``name`` may be dotted (``network.width``): the type of the nested dataclass's field.
    """
    hints = typing.get_type_hints(config_cls)
    head, _, rest = name.partition(".")
    if head not in hints:
        raise ValueError(unknown_name_message("config field", name, known_fields(config_cls)))
    if rest:
        if not dataclasses.is_dataclass(hints[head]):
            raise ValueError(f"config field {head!r} has no sub-fields (got {name!r})")
        if rest.partition(".")[0] not in typing.get_type_hints(hints[head]):
            raise ValueError(unknown_name_message("config field", name, known_fields(config_cls)))
        return parse_value(hints[head], rest, text)
    return _parse(hints[name], text, name)


def _parse(tp: Any, text: str, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in ("none", "null") and len(args) < len(typing.get_args(tp)):
            return None
        errors = []
        for a in args:
            try:
                return _parse(a, text, name)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(f"cannot parse {name}={text!r}: {'; '.join(errors)}")
    if origin is tuple:
        (item, *_) = typing.get_args(tp) or (str,)
        return tuple(_parse(item, t.strip(), name) for t in text.split(",") if t.strip())
    if origin is typing.Literal:
        if text not in typing.get_args(tp):
            raise ValueError(f"{name} must be one of {typing.get_args(tp)}, got {text!r}")
        return text
    if tp is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} must be a boolean, got {text!r}")
    if tp in (int, float, str):
        try:
            return tp(text)
        except ValueError as e:
            raise ValueError(f"{name} must be of type {tp.__name__}, got {text!r}") from e
    raise ValueError(f"cannot parse values for field {name} of type {tp}")


def build_parser(exp: Experiment) -> argparse.ArgumentParser:
    """The shared command-line interface (module docstring)."""
    p = argparse.ArgumentParser(
        prog=f"python -m experiments.{exp.name}",
        description=plain_text(exp.description),
        epilog=config_help(exp),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="default",
        help="smoke: seconds (tests); default: minutes on a 2-core CPU; paper: the paper's sizes",
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory of results and figures"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="number of random initialisations: sets the config field num_seeds (None: the config's)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="master seed: sets the config field seed (None: the config's)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field, e.g. --set network.width=512 --set degrees=1,2,3 (repeatable)",
    )
    p.add_argument(
        "--plot-only", action="store_true", help="replot from the saved results in --out"
    )
    p.add_argument(
        "--x64",
        action=argparse.BooleanOptionalAction,
        default=exp.x64_default,
        help="float64 computation (the default is this experiment's)",
    )
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local dataset directory (real-data experiments)",
    )
    p.add_argument(
        "--mesh",
        action="store_true",
        help="shard Grams and contributions over every device (all processes with --distributed)",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="join JAX's distributed runtime first (cluster auto-detected unless the flags below are "
        "given); implies --mesh; only process 0 writes results",
    )
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="with --distributed")
    p.add_argument("--num-processes", type=int, default=None, help="with --distributed")
    p.add_argument("--process-id", type=int, default=None, help="with --distributed")
    p.add_argument("--debug", action="store_true", help="show the traceback of an expected error")
    return p


def parse_config(exp: Experiment, args: argparse.Namespace):
    """The config for parsed CLI ``args``: scale defaults, then ``--seeds/--seed/--data-dir``, then ``--set``."""
    overrides: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(exp.config_cls)}
    if args.seeds is not None:
        overrides["num_seeds"] = args.seeds
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.data_dir is not None:
        if "data_dir" not in fields:
            raise ValueError(f"{exp.name} does not read a dataset: --data-dir does not apply")
        overrides["data_dir"] = str(args.data_dir)
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        overrides[name.strip()] = parse_value(exp.config_cls, name.strip(), text.strip())
    return exp.config(args.scale, **overrides)


def main(exp: Experiment, argv: list[str] | None = None) -> dict[str, np.ndarray]:
    """Entry point of every experiment module: run (or ``--plot-only``), save results, save the figure.

    Expected errors (``EXPECTED_ERRORS``) print one line ``error: …`` on stderr and exit with status 2,
    unless ``--debug`` (then they propagate with their traceback).
    """
    parser = build_parser(exp)
    args = parser.parse_args(argv)
    try:
        return _main(exp, args)
    except EXPECTED_ERRORS as e:
        if args.debug:
            raise
        print(f"error: {error_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None


def _join_runtime(args: argparse.Namespace) -> None:
    import jax

    from spectral_layers import distributed

    if jax.distributed.is_initialized():
        return
    loopback = args.coordinator is not None and args.coordinator.split(":")[0] in (
        "127.0.0.1",
        "localhost",
    )
    distributed.initialize(
        args.coordinator,
        args.num_processes,
        args.process_id,
        coordinator_bind_address=args.coordinator if loopback else None,
    )


def _main(exp: Experiment, args: argparse.Namespace) -> dict[str, np.ndarray]:
    import jax

    from experiments.framework.plotting import save_figure
    from experiments.framework.results import environment_metadata, load_results, save_results

    out_dir: Path = args.out
    stem = out_dir / exp.name
    if args.plot_only:
        results, meta = load_results(stem)
        cfg = config_from_dict(exp.config_cls, meta["config"])
        save_figure(exp.plot(results, cfg), out_dir, exp.name)
        print(f"[{exp.name}] replotted {stem}.pdf/.png from {stem}.npz", file=sys.stderr)
        return results
    if not args.distributed and any(
        v is not None for v in (args.coordinator, args.num_processes, args.process_id)
    ):
        raise ValueError("--coordinator, --num-processes and --process-id need --distributed")
    cfg = parse_config(exp, args)
    if args.distributed:
        _join_runtime(args)
    x64 = exp.x64_default if args.x64 is None else args.x64
    jax.config.update("jax_enable_x64", bool(x64))
    mesh = None
    if args.mesh or args.distributed:
        from spectral_layers.sharding import make_mesh

        mesh = make_mesh()
    writer = jax.process_index() == 0
    ctx = RunContext(
        exp.name,
        out_dir=out_dir,
        progress=not args.no_progress and writer,
        force=args.force,
        mesh=mesh,
        writer=writer,
        resume=jax.process_count() == 1,
    )
    t0 = time.perf_counter()
    results = exp.run(cfg, ctx)
    wall = time.perf_counter() - t0
    if not writer:
        return results
    meta = {
        "experiment": exp.name,
        "scale": args.scale,
        "config": config_to_dict(cfg),
        "config_hash": config_hash(cfg),
        "code_hash": code_hash(),
        "wall_time_s": round(wall, 3),
        "seeds": list(range(getattr(cfg, "num_seeds", 0))),
        "mesh_devices": 0 if mesh is None else int(mesh.devices.size),
        "processes": jax.process_count(),
        **environment_metadata(),
    }
    if exp.summarize is not None:
        meta["checks"] = exp.summarize(results, cfg)
    save_results(stem, results, meta)
    ctx.finish()
    save_figure(exp.plot(results, cfg), out_dir, exp.name)
    where = (
        ""
        if mesh is None
        else f" on {mesh.devices.size} devices, {jax.process_count()} process(es)"
    )
    print(
        f"[{exp.name}] {args.scale} scale in {wall:.1f} s{where} -> {stem}.npz/.json/.pdf/.png",
        file=sys.stderr,
    )
    return results
