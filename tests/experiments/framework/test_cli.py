"""The command lines: ``python -m experiments --help``, every experiment's ``--help`` (config fields generated
from the config dataclass), one-line errors with exit status 2 and the closest valid names, one ``--force``."""

import dataclasses
import importlib
import re
import subprocess
import sys
import typing

import pytest

import experiments
from experiments import __main__ as runner
from experiments.framework import cli as fw

EXPERIMENTS = {n: importlib.import_module(f"experiments.{n}").EXPERIMENT for n in experiments.ALL}


def _help(main, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def _options(text: str) -> list[str]:
    """The long options listed in the ``options:`` section of a ``--help`` text."""
    section = text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^  (?:-h, )?(--[a-z0-9-]+)", section, flags=re.M)


def test_runner_help_lists_every_experiment_and_option(capsys):
    text = _help(runner.main, capsys)
    assert "``" not in text and ":class:" not in text  # plain text, no reStructuredText markup
    listed = re.findall(r"^  (\w+)  +(\S.*)$", text.split("\nexperiments (", 1)[1], flags=re.M)
    # every experiment, in run order, one line each
    assert [n for n, _ in listed] == list(experiments.ALL)
    for name, line in listed:
        assert line == fw.plain_text(EXPERIMENTS[name].description) and len(line) > 20
    options = _options(text)
    assert set(options) >= {"--scale", "--out", "--only", "--force", "--data-dir", "--debug"}
    section = text.split("\noptions:\n", 1)[1].split("\n\nexperiments", 1)[0]
    blocks = re.split(r"\n  (?=-)", "\n" + section)[1:]
    for block in blocks:
        if block.startswith("-h"):
            continue
        assert "(default: " in " ".join(block.split()), block  # every option says its default
    assert "(default: default)" in " ".join(section.split())  # --scale


@pytest.mark.parametrize("name", experiments.ALL)
def test_experiment_help_lists_config_fields(name, capsys):
    exp = EXPERIMENTS[name]
    text = _help(exp.main, capsys)
    assert "``" not in text
    assert "--force" in _options(text) and "--set" in _options(text)
    fields_text = text.split("\nconfig fields (", 1)[1]
    entries = dict(re.findall(r"^  ([\w.]+): (.+)$", fields_text, flags=re.M))
    assert list(entries) == fw.known_fields(exp.config_cls)  # every settable field, in order
    assert name != "fig2_sphere_d10" or {"num_draws", "num_seeds"} <= set(entries)
    default = exp.config("default") if exp.uses_data is False else None
    hints = typing.get_type_hints(exp.config_cls)
    for f in dataclasses.fields(exp.config_cls):
        if dataclasses.is_dataclass(hints[f.name]):
            continue
        type_text, _, value_text = entries[f.name].partition(" = ")
        assert type_text == fw._type_name(hints[f.name])
        if default is not None:
            assert value_text.split(" (")[0] == fw._value_text(getattr(default, f.name))
    docs = fw.field_docs(exp.config_cls)
    for field, meaning in docs.items():
        assert meaning, f"{name}: config field {field} has no comment or Attributes entry"
        first_words = " ".join(fw.plain_text(meaning).split()[:4])
        assert first_words in " ".join(fields_text.split()), (field, first_words)


def test_field_docs_come_from_the_class():
    @dataclasses.dataclass(frozen=True)
    class Inner:
        """Inner.

        Attributes:
          width: hidden width,
            continued.
        """

        width: int = 3

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        seed: int = 0  # master seed
        num_draws: int = 2  # independent draws
        # of the points
        inner: Inner = Inner()  # noqa: RUF009, RUF100 (frozen)
        plain: float = 1.0

    docs = fw.field_docs(Cfg)
    assert docs == {
        "seed": "master seed",
        "num_draws": "independent draws of the points",
        "inner.width": "hidden width, continued.",
        "plain": "",
    }


def test_unknown_set_field_one_line_exit_2_closest_names(tmp_path):
    cmd = [sys.executable, "-m", "experiments.fig2_sphere_d10", "--scale", "smoke"]
    for bad, near in (("num_draw=3", "num_draws"), ("netwrk.width=4", "network.width")):
        r = subprocess.run(
            [*cmd, "--out", str(tmp_path), "--set", bad], capture_output=True, text=True
        )
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: unknown config field"), r.stderr
        assert f"did you mean {near}" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing ran


def test_unknown_only_one_line_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "experiments", "--only", "fig22", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --only: no experiment matches")
    assert "did you mean fig2_sphere_d10" in lines[0]
    assert not list(tmp_path.iterdir())


def test_closest_names():
    names = experiments.ALL
    assert fw.closest("fig2_sphere_d1", names)[0] == "fig2_sphere_d10"
    assert fw.closest("theory_hermit", names)[0] == "theory_hermite"
    assert fw.closest("zzzzzz", names) == []


def test_force_has_one_meaning(capsys):
    def force_help(text):
        section = text.split("\n  --force", 1)[1]
        return " ".join(re.split(r"\n  --", section, maxsplit=1)[0].split())

    runner_help = force_help(_help(runner.main, capsys))
    assert fw.FORCE_HELP in runner_help
    for name in ("fig2_sphere_d10", "theory_hermite"):
        assert force_help(_help(EXPERIMENTS[name].main, capsys)) == runner_help
