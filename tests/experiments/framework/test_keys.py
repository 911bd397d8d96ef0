"""The one key discipline (``experiments.framework.keys``): named keys of a draw, reproducing the schemes the
committed figures were drawn with."""

import jax
import numpy as np
import pytest

from experiments.framework import keys


def _data(k):
    return np.asarray(jax.random.key_data(k))


@pytest.mark.parametrize("names", [("data", "init"), ("points", "centres", "init", "probes")])
def test_draw_keys_split_the_draw_key_in_the_order_named(names):
    expected = jax.random.split(jax.random.fold_in(jax.random.key(5), 3), len(names))
    got = keys.draw_keys(5, 3, *names)
    assert len(got) == len(names)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(_data(g), _data(e))
    _, b = jax.random.split(
        jax.random.fold_in(jax.random.key(5), 3)
    )  # the former two-key unpacking
    np.testing.assert_array_equal(_data(keys.draw_keys(5, 3, "x", "y")[1]), _data(b))


def test_fold_in_derivation_is_training_width_scheme():
    k_draw = jax.random.fold_in(jax.random.key(2), 7)
    data, init = keys.draw_keys(2, 7, "data", "init", derive="fold_in")
    np.testing.assert_array_equal(_data(data), _data(jax.random.fold_in(k_draw, 0)))
    np.testing.assert_array_equal(_data(init), _data(jax.random.fold_in(k_draw, 1)))


def test_draws_and_names_give_different_keys():
    a, b = keys.draw_keys(0, 0, "data", "init")
    (c, _) = keys.draw_keys(0, 1, "data", "init")
    assert len({_data(k).tobytes() for k in (a, b, c)}) == 3


@pytest.mark.parametrize(
    ("names", "derive", "match"),
    [((), "split", "at least one"), (("a", "a"), "split", "distinct"), (("a",), "nope", "derive")],
)
def test_bad_arguments_are_rejected(names, derive, match):
    with pytest.raises(ValueError, match=match):
        keys.draw_keys(0, 0, *names, derive=derive)
