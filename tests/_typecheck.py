"""The package as users run it, for the tests of its own rejection of bad input (``tests/conftest.py``)."""

import contextlib

import jaxtyping


@contextlib.contextmanager
def unchecked():
    """The package as users run it: jaxtyping's run-time checks off inside the block."""
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", before)  # nested blocks keep the outer setting
