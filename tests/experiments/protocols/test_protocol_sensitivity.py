"""protocol_sensitivity: which variants apply where, the configs it builds, the verdict codes, and one exact
invariance of the protocol (a bias-free ReLU network does not see a global input scale)."""

import numpy as np
import pytest

from experiments import protocol_sensitivity as ps_reg
from experiments.protocols import protocol_sensitivity as ps
from experiments.protocols import realdata


def test_units_apply_each_variant_to_its_figures():
    cfg = ps_reg.EXPERIMENT.config("default")
    units = ps.units(cfg)
    by_fig = {f: [v for g, v in units if g == f] for f in cfg.figures}
    for sphere_fig in ("fig2_sphere_d10", "fig8_sphere_tanh"):
        assert "input_fan_in" in by_fig[sphere_fig] and "pc_raw" not in by_fig[sphere_fig]
        assert "pixels_standardized" not in by_fig[sphere_fig]
    for image_fig in ("fig5_mnist_pc", "fig7_cifar_pc"):
        assert {"pc_raw", "pixels_standardized", "pixels_unit_norm", "input_none"} <= set(
            by_fig[image_fig]
        )
        assert "input_fan_in" not in by_fig[image_fig]
    assert all(v[0] == "baseline" for v in by_fig.values())  # baseline first: flips refer to it


def test_figure_config_changes_one_choice_and_shares_the_sizes():
    cfg = ps_reg.EXPERIMENT.config("default")
    _, base = ps.figure_config(cfg, "fig5_mnist_pc", "baseline")
    _, half = ps.figure_config(cfg, "fig5_mnist_pc", "n_half")
    _, std = ps.figure_config(cfg, "fig5_mnist_pc", "pixels_standardized")
    _, bias = ps.figure_config(cfg, "fig2_sphere_d10", "bias")
    assert (base.num_draws, base.num_seeds, base.network.width) == (8, 2, 256)
    assert half.num_points == base.num_points // 2
    assert std.standardize and std.center_inputs and not base.standardize
    assert bias.network.use_bias and bias.dim == 10
    assert std.target == "pc" and std.dataset == "mnist"


def test_judge_codes_and_undefined_degrees():
    inc = np.array([1.0, 2.0, 3.0])[None, :, None] * np.ones((8, 3, 2))
    inc[..., 0] *= 2  # layer 0 largest everywhere
    dec = inc[:, ::-1].copy()
    nan_mid = inc.copy()
    nan_mid[:, 1] = np.nan  # an undefined degree in every draw: left out, A judged on k = 1, 3
    codes, fracs = ps.judge(np.stack([inc, dec, nan_mid]), 0.8)
    assert ps.CLAIMS == "ADC"
    np.testing.assert_array_equal(codes, [[1, 1, 1], [-1, -1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(fracs, [[1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    one_degree = inc[:, :1]
    codes, _ = ps.judge(one_degree[None], 0.8)
    np.testing.assert_array_equal(codes[0], [-2, -2, 1])  # A and D need two degrees: not applicable


def test_bad_config_is_rejected():
    for bad in ({"figures": ("fig1_sphere_d2",)}, {"variants": ("nope",)}, {"num_draws": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ps_reg.EXPERIMENT.config("smoke", **bad)


@pytest.mark.slow
def test_global_input_scale_changes_nothing_for_bias_free_relu():
    """Without bias a ReLU network is positively homogeneous: the first layer's 1/√d scales every Gram by the
    same factor, so every ratio (finite and infinite width) and hence every verdict is unchanged."""
    cfg = ps_reg.EXPERIMENT.config("smoke", figures=("fig2_sphere_d10",))
    out = {}
    for variant in ("baseline", "input_fan_in"):
        exp, fig_cfg = ps.figure_config(cfg, "fig2_sphere_d10", variant)
        out[variant] = ps.panel_ratios("fig2_sphere_d10", exp.run(fig_cfg), fig_cfg)
    assert out["baseline"][0] == out["input_fan_in"][0] == ["raw", "debiased"]
    for i in (1, 2):  # finite, infinite width
        np.testing.assert_allclose(out["input_fan_in"][i], out["baseline"][i], rtol=1e-9)
    exp, bias_cfg = ps.figure_config(cfg, "fig2_sphere_d10", "bias")
    biased = ps.panel_ratios("fig2_sphere_d10", exp.run(bias_cfg), bias_cfg)[1]
    assert np.nanmax(np.abs(biased / out["baseline"][1] - 1)) > 1e-3  # a bias does change them


def test_smoke_scale_uses_synthetic_images():
    assert ps_reg.EXPERIMENT.config("smoke").data_dir == realdata.SYNTHETIC


def test_report_rows_name_the_change_and_compare_with_the_baseline():
    codes = np.array([[[[1, 1, 1]] * 4, [[1, 1, 1]] * 4], [[[1, 1, -1]] * 4, [[1, 1, -1]] * 4]])
    results = {
        "unit_figure": np.array(["fig2_sphere_d10", "fig2_sphere_d10"]),
        "unit_variant": np.array(["baseline", "n_half"]),
        "verdict": codes,
        "fraction": np.where(codes == 1, 1.0, 0.0),
        "panel_names": np.array([["raw", "debiased", "", ""]] * 2),
    }
    rows = ps.summarize(results, ps_reg.EXPERIMENT.config("smoke"))
    assert "'baseline' (the figure's own choices, at width" in rows[0]["check"]
    assert rows[0]["verdict"] == "baseline"
    assert "'n_half' (num_points=×½)" in rows[1]["check"]
    assert rows[1]["verdict"] == "changes: raw C: holds → fails; debiased C: holds → fails"
