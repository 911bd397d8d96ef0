"""Tests of the library, one file per module of ``spectral_layers`` (``test_<module>.py``; the engine's
checks on many models are ``test_empirical_*.py``)."""
