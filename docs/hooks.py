"""MkDocs hooks (``mkdocs.yml``: ``hooks``): the figure gallery and the list of public names, generated.

* ``figures/*.png`` (outside ``docs/``) are added to the site as they are, and ``gallery.md`` is generated from
  ``experiments.ALL``: each experiment's one-line description, its caption (``Experiment.caption``) and its
  committed figure, so the gallery never restates what the experiment modules say.
* ``api/top_level.md``'s ``<!-- public-names -->`` marker becomes a table of every name in
  ``spectral_layers.__all__``, each linked to its entry in the module pages (a name missing there fails
  ``mkdocs build --strict`` as an unresolved cross-reference).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent


def _gallery() -> str:
    import experiments

    lines = [
        "# Figure gallery",
        "",
        "Every figure as committed in `figures/` (made with `python -m experiments --scale default`; "
        "verdicts and numbers in `figures/REPORT.md`). Each section: the experiment's command, its "
        "description and its caption, taken from the experiment module.",
        "",
    ]
    for name in experiments.ALL:
        exp = importlib.import_module(f"experiments.{name}").EXPERIMENT
        lines += [
            f"## {name}",
            "",
            f"*{exp.description.replace('``', '`')}* `python -m experiments.{name}`",
            "",
            f"![{name}](figures/{name}.png)",
            "",
        ]
        if exp.caption:
            lines += [exp.caption, ""]
    return "\n".join(lines)


def on_files(files, config):
    for png in sorted((ROOT / "figures").glob("*.png")):
        files.append(File.generated(config, f"figures/{png.name}", abs_src_path=str(png)))
    files.append(File.generated(config, "gallery.md", content=_gallery()))
    return files


def _public_names() -> str:
    import spectral_layers as sl

    rows = ["| name | kind | defined in |", "|---|---|---|"]
    for name in sl.__all__:
        obj = getattr(sl, name)
        if inspect.ismodule(obj):
            target, kind, home = obj.__name__, "module", obj.__name__
        else:
            home = getattr(obj, "__module__", None) or "spectral_layers"
            if not home.startswith("spectral_layers.") or not hasattr(
                importlib.import_module(home), name
            ):
                home = next(
                    m.__name__
                    for m in vars(sl).values()
                    if inspect.ismodule(m)
                    and m.__name__.startswith("spectral_layers.")
                    and name in vars(m)
                )
            target = f"{home}.{name}"
            kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "constant"
        rows.append(f"| [`{name}`][{target}] | {kind} | `{home}` |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    if "<!-- public-names -->" in markdown:
        markdown = markdown.replace("<!-- public-names -->", _public_names())
    return markdown
