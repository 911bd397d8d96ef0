"""The runner ``python -m experiments``: runs all, writes the report, skips what is up to date, isolates failures."""

import dataclasses
import sys
import types

import numpy as np
import pytest

import experiments
from experiments import __main__ as runner
from experiments import _framework as fw


def _fake_module(name, fail=False):
    @dataclasses.dataclass(frozen=True)
    class Config:
        seed: int = 0  # master seed
        num_seeds: int = 2  # seeds

    def run(cfg, ctx):
        if fail:
            raise RuntimeError("boom")
        return {"x": np.arange(3.0) + cfg.seed}

    def plot(results, cfg):
        from experiments.plotting import figure

        fig, ax = figure()
        ax[0][0].plot(results["x"])
        return fig

    mod = types.ModuleType(f"experiments.{name}")
    mod.EXPERIMENT = fw.Experiment(
        name=name,
        config_cls=Config,
        run=run,
        plot=plot,
        description=f"{name} test",
        summarize=lambda r, c: [
            {
                "check": "x sums to 3",
                "measured": float(r["x"].sum()),
                "expected": 3.0,
                "verdict": "agrees",
            }
        ],
    )
    return mod


@pytest.fixture
def fake_experiments(monkeypatch):
    names = ("fake_ok", "fake_fail", "fake_ok2")
    for n in names:
        monkeypatch.setitem(sys.modules, f"experiments.{n}", _fake_module(n, fail=n == "fake_fail"))
    monkeypatch.setattr(experiments, "ALL", names)
    return names


def test_runner_failure_isolation_skip_and_force(fake_experiments, tmp_path, capsys):
    out = ["--scale", "smoke", "--out", str(tmp_path), "--no-progress"]
    assert runner.main(out) == 1  # one failed
    text = capsys.readouterr().out
    assert (
        "fake_fail" in text
        and "FAILED: RuntimeError: boom" in text
        and "2 succeeded, 1 failed" in text
    )
    for n in ("fake_ok", "fake_ok2"):
        assert (tmp_path / f"{n}.png").exists()
    report = (tmp_path / "REPORT.md").read_text()
    assert "fake_ok" in report and "x sums to 3" in report and "![fake_ok](fake_ok.png)" in report
    assert (tmp_path / "REPORT.html").exists()

    assert runner.main([*out, "--only", "fake_ok,fake_ok2"]) == 0
    assert capsys.readouterr().out.count("up to date (skipped)") == 2
    assert runner.main([*out, "--only", "fake_ok", "--force"]) == 0
    assert "up to date" not in capsys.readouterr().out


def test_runner_rejects_unknown_only(fake_experiments, tmp_path):
    with pytest.raises(SystemExit, match="no experiment matches"):
        runner.main(["--only", "nope", "--out", str(tmp_path)])


@pytest.mark.slow
def test_runner_smoke_all_then_skip(tmp_path, capsys):
    """Every registered experiment at smoke scale through the runner, then a second call skips them all."""
    args = ["--scale", "smoke", "--out", str(tmp_path), "--no-progress"]
    assert runner.main(args) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert runner.main(args) == 0
    assert capsys.readouterr().out.count("up to date (skipped)") == len(experiments.ALL)
    report = (tmp_path / "REPORT.md").read_text()
    for name in experiments.ALL:
        assert f"## {name}" in report
