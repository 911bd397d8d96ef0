"""Every experiment's ``main`` at smoke scale; ``--plot-only``; resume after a kill; determinism; bad configs."""

import importlib
import json

import numpy as np
import pytest

import experiments
from experiments import __main__ as runner
from experiments.framework import cli as fw
from experiments.framework.report import write_report
from tests._net import assert_config_rejected


def _module(name):
    return importlib.import_module(f"experiments.{name}")


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("name", experiments.ALL)
def test_main_smoke_writes_everything(name, tmp_path):
    mod = _module(name)
    assert mod.__doc__ and "python -m experiments." in mod.__doc__
    res = mod.main(["--scale", "smoke", "--out", str(tmp_path), "--no-progress"])
    for suffix in (".npz", ".json", ".pdf", ".png"):
        assert (tmp_path / f"{name}{suffix}").stat().st_size > 0, suffix
    assert not (tmp_path / f"{name}.partial.npz").exists()
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    for key in ("config", "jax_version", "devices", "git_revision", "wall_time_s", "seeds"):
        assert key in meta
    (tmp_path / f"{name}.png").unlink()
    replot = mod.main(["--plot-only", "--out", str(tmp_path)])
    assert (tmp_path / f"{name}.png").exists()
    _assert_same(res, replot)
    # what the runner does with these results: skip the experiment, list it in the report
    assert runner.up_to_date(name, tmp_path, "smoke", None)
    assert f"## {name}" in write_report(tmp_path).read_text()


def test_same_seed_same_numbers_and_resume(tmp_path, monkeypatch):
    """A run killed during its second draw resumes from the checkpoint (draw 0 saved, only draw 1
    recomputed) and gives exactly the uninterrupted run's numbers."""
    from experiments import fig1_sphere_d2 as mod
    from experiments.framework import results
    from experiments.protocols import sphere

    args = ["--scale", "smoke", "--no-progress", "--set", "num_points=48"]
    ref = mod.main([*args, "--out", str(tmp_path / "ref")])
    assert ref["contributions_raw"].shape[0] == 2  # smoke: two draws
    again = mod.main([*args, "--out", str(tmp_path / "again")])
    _assert_same(ref, again)

    real = sphere.finite_forms
    calls = {"n": 0}

    def dies_in_second_draw(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(sphere, "finite_forms", dies_in_second_draw)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        mod.main([*args, "--out", str(out)])
    partial = results.load_npz(out / "fig1_sphere_d2.partial.npz")
    assert partial["contributions_raw"].shape[0] == 1  # draw 0 checkpointed
    np.testing.assert_array_equal(partial["contributions_raw"][0], ref["contributions_raw"][0])
    assert not (out / "fig1_sphere_d2.json").exists()
    calls["n"] = 10  # the patched function no longer dies: it counts the draws computed
    resumed = mod.main([*args, "--out", str(out)])
    assert calls["n"] == 11  # only draw 1
    assert not (out / "fig1_sphere_d2.partial.npz").exists()
    _assert_same(ref, resumed)


def test_seed_loop_resume_ignores_other_config(tmp_path):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class C:
        seed: int = 0

    ctx = fw.RunContext("t", out_dir=tmp_path, progress=False)
    seen = []

    def fn(idx):
        seen.extend(idx.tolist())
        return {"v": idx * 10.0}

    out = ctx.seed_loop(C(0), fn, num_seeds=5, chunk=2)
    np.testing.assert_array_equal(out["v"], [0, 10, 20, 30, 40])
    seen.clear()
    ctx.seed_loop(C(0), fn, num_seeds=7, chunk=2)  # resumes: only the new seeds are computed
    assert seen == [5, 6]
    seen.clear()
    ctx.seed_loop(C(1), fn, num_seeds=3, chunk=2)  # another config: starts over
    assert seen == [0, 1, 2]


def test_cli_overrides_and_parsing():
    from experiments import fig2_sphere_d10 as mod

    args = fw.build_parser(mod.EXPERIMENT).parse_args(
        [
            "--scale",
            "smoke",
            "--seeds",
            "3",
            "--seed",
            "7",
            "--set",
            "degrees=1,2",
            "--set",
            "network.use_bias=true",
            "--set",
            "network.width=24",
        ]
    )
    cfg = fw.parse_config(mod.EXPERIMENT, args)
    assert (cfg.num_seeds, cfg.seed, cfg.degrees, cfg.network.use_bias, cfg.dim) == (
        3,
        7,
        (1, 2),
        True,
        10,
    )
    # one setting of the network changes, the others keep the experiment's (smoke) values
    assert cfg.network == mod.EXPERIMENT.config("smoke").network.replace(use_bias=True, width=24)
    assert fw.config_from_dict(type(cfg), json.loads(json.dumps(fw.config_to_dict(cfg)))) == cfg


@pytest.mark.parametrize(
    "override,match",
    [
        ("network.width=0", "width"),
        ("degrees=-1,2", "degrees"),
        ("dim=1", "in_dim|dim"),
        ("num_points=0", "num_points"),
        ("network.activation=swish9", "activation"),
        ("nonsense=1", "unknown"),
        ("network.nonsense=1", "unknown"),
        ("width=1", "unknown"),
        ("network.width=abc", "width"),
    ],
)
def test_bad_config_fails_before_work(override, match, tmp_path, capsys):
    from experiments import fig1_sphere_d2 as mod

    assert_config_rejected(mod, override, match, tmp_path, capsys)
    with pytest.raises(SystemExit):
        mod.main(["--scale", "smoke", "--out", str(tmp_path), "--seeds", "0"])
