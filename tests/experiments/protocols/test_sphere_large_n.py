"""sphere_large_n: reproducibility from the seed, draws independent of chunking, and the verdict rule."""

import numpy as np
import pytest

from experiments import sphere_large_n as mod_reg
from experiments.protocols import sphere_large_n as mod

TINY = {
    "num_draws": 2,
    "num_points": (40,),
    "activations": ("tanh",),
    "dim": 4,
    "degrees": (1, 2, 3),
    "network.width": 8,
}


@pytest.mark.slow
def test_run_is_reproducible_and_draws_do_not_depend_on_their_number():
    cfg = mod_reg.EXPERIMENT.config("smoke", **TINY)
    a = mod.run(cfg)
    b = mod.run(cfg)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # draws, seeds, estimators, sizes, odd degrees (1, 3), layers - 1
    assert a["tanh_ratios"].shape == (2, 1, 3, 1, 2, 3)
    # k = 2 has a NaN Mercer ratio (parity)
    np.testing.assert_array_equal(a["tanh_degrees"], [1, 3])
    one = mod.run(mod_reg.EXPERIMENT.config("smoke", **{**TINY, "num_draws": 1}))
    np.testing.assert_array_equal(one["tanh_ratios"][0], a["tanh_ratios"][0])


def _ratios(values):
    """(D, K, L-1) ratios with layer 0 = values, other layers 1."""
    v = np.asarray(values, float)
    r = np.ones((*v.shape, 2))
    r[..., 0] = v
    return r


def test_claims_and_rule_flip_with_the_data():
    inc = _ratios([[1.0, 2.0, 3.0]] * 10)
    assert mod.verdict(inc, "A", 0.8) == ("holds", 1.0)
    dec = _ratios([[3.0, 2.0, 1.0]] * 10)
    assert mod.verdict(dec, "A", 0.8) == ("fails", 0.0)
    mixed = _ratios([[1.0, 2.0, 3.0]] * 7 + [[3.0, 2.0, 1.0]] * 3)  # 70% < 80%
    assert mod.verdict(mixed, "A", 0.8)[0] == "unresolved"
    nan = _ratios([[1.0, np.nan, 3.0]] * 10)
    assert mod.verdict(nan, "A", 0.8)[0] == "unresolved"  # undefined is not a failure
    # claim C: layer 0 largest at the top degree
    assert bool(mod.claim_holds(_ratios([[1.0, 0.5]]), "C")[0]) is False
    assert bool(mod.claim_holds(_ratios([[1.0, 1.5]]), "C")[0]) is True
    with pytest.raises(ValueError, match="claim"):
        mod.claim_holds(inc, "Z")


def test_bad_config():
    with pytest.raises(ValueError, match="num_points"):
        mod_reg.EXPERIMENT.config("default", num_points=(100, 1000))  # ≤ C(13, 3) = 286
    with pytest.raises(ValueError, match="agreement"):
        mod_reg.EXPERIMENT.config("default", agreement=0.4)
