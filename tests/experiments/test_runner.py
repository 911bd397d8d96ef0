"""The runner ``python -m experiments``: runs all, writes the report, skips what is up to date, isolates failures."""

import sys

import pytest

import experiments
from experiments import __main__ as runner
from tests._fakes import fake_module


@pytest.fixture
def fake_experiments(monkeypatch):
    names = ("fake_ok", "fake_fail", "fake_ok2")
    for n in names:
        monkeypatch.setitem(
            sys.modules,
            f"experiments.{n}",
            fake_module(n, RuntimeError("boom") if n == "fake_fail" else None),
        )
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


def test_runner_rejects_unknown_only(fake_experiments, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        runner.main(["--only", "fake_ok,fake_ko", "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only: no experiment matches") and "did you mean fake_ok" in err
    assert not (tmp_path / "fake_ok.json").exists()  # nothing ran


def test_runner_smoke_then_skip(tmp_path, capsys):
    """Real experiments through the runner at smoke scale, then a second call skips them all.

    Three of different kinds (sphere, theory, width convergence); every experiment's own smoke run, its
    up-to-date check and its report section are in ``test_experiments.test_main_smoke_writes_everything``.
    """
    names = ("fig1_sphere_d2", "theory_hermite", "width_convergence")
    args = ["--scale", "smoke", "--out", str(tmp_path), "--no-progress", "--only", ",".join(names)]
    assert runner.main(args) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert runner.main(args) == 0
    assert capsys.readouterr().out.count("up to date (skipped)") == len(names)
    report = (tmp_path / "REPORT.md").read_text()
    for name in names:
        assert f"## {name}" in report
