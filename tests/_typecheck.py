"""The package as users run it, for the tests of its own rejection of bad input (``tests/conftest.py``)."""

import contextlib

import jaxtyping


@contextlib.contextmanager
def unchecked():
    """The package as users run it: jaxtyping's run-time checks off inside the block."""
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)
