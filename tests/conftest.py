"""Test configuration, set once here and never in library code.

* float64 everywhere (``jax_enable_x64``);
* implicit rank promotion is an error (``jax_numpy_rank_promotion="raise"``): every broadcast between arrays
  of different rank is written out, in the package, the experiments and their tests; the corpus of public
  model definitions (``tests/models/``) runs them as their authors wrote them (``"allow"``);
* the jaxtyping annotations of ``spectral_layers`` (shapes, dtypes and the types around them) are checked at
  run time with beartype, through jaxtyping's import hook, installed before the package is first imported;
  they are switched on by ``SL_TYPECHECK=library`` (the library's own tests, ``tests/spectral_layers/``) or
  ``SL_TYPECHECK=all`` (every test), and off by default: not every annotation has been run through the whole
  suite yet (see CHANGELOG).

A test of the package's own rejection of bad input (a ``ValueError``/``TypeError`` naming the argument, what
a user sees: the hook is not installed outside the tests) makes its call inside ``tests._typecheck.unchecked()``,
so that the annotation check does not answer first.
"""

import os

import jax
import pytest
from jaxtyping import install_import_hook

from tests._typecheck import unchecked

_TYPECHECKER = "beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))"
"""beartype with PEP 484's numeric tower (an ``int`` is a valid ``float``, as for every static checker)."""

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

with install_import_hook("spectral_layers", _TYPECHECKER):
    import spectral_layers  # noqa: F401  (every later import gets these checked modules)


_CHECKED = {"library": ("tests/spectral_layers/",), "all": ("",)}
"""Where ``SL_TYPECHECK`` switches the run-time annotation checks on (unset: nowhere)."""


@pytest.fixture(autouse=True)
def _annotation_checks(request):
    """The run-time annotation checks on where ``SL_TYPECHECK`` says (``_CHECKED``), off elsewhere."""
    if request.node.nodeid.startswith(_CHECKED.get(os.environ.get("SL_TYPECHECK", ""), ())):
        yield
    else:
        with unchecked():
            yield


@pytest.fixture(autouse=True)
def _third_party_models(request):
    """The public model definitions of ``tests/models/`` run with the rank promotion their authors relied on."""
    if request.node.nodeid.startswith("tests/models/"):
        with jax.numpy_rank_promotion("allow"):
            yield
    else:
        yield
