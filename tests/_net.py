"""Test helpers: the network keywords of a call gathered into one ``Network``.

Many tests sweep network settings as keyword dicts; these wrappers turn such a dict into the ``network=``
argument of the library functions, so each test states its settings once.
"""

import dataclasses

from spectral_layers import infinite, spectra
from spectral_layers.models import Network

NETWORK_FIELDS = tuple(f.name for f in dataclasses.fields(Network))


def split_network(kwargs):
    """``(Network(**network keys), the other keys)``."""
    net = {k: kwargs[k] for k in NETWORK_FIELDS if k in kwargs}
    rest = {k: v for k, v in kwargs.items() if k not in NETWORK_FIELDS}
    return Network(**net), rest


def inf_ntk(x1, x2=None, **kwargs):
    net, rest = split_network(kwargs)
    return infinite.infinite_layer_ntk(x1, x2, network=net, **rest)


def sphere_kernels(u, **kwargs):
    net, rest = split_network(kwargs)
    return infinite.sphere_layer_kernels(u, network=net, **rest)


def nt_ntk(x1, x2=None, **kwargs):
    net, rest = split_network(kwargs)
    return infinite.nt_layer_ntk(x1, x2, network=net, **rest)


def check_nt(x1, x2=None, **kwargs):
    net, rest = split_network(kwargs)
    return infinite.nt_relative_errors(x1, x2, network=net, **rest)


def mercer(dim, max_degree, **kwargs):
    net, rest = split_network(kwargs)
    return spectra.layer_mercer_eigenvalues(dim, max_degree, network=net, **rest)


def assert_config_rejected(module, override, match, out_dir, capsys):
    """``module.main`` with ``--set override`` exits before any work, naming ``match`` (``a|b``: either)."""
    import pytest

    with pytest.raises(SystemExit):
        module.main(["--scale", "smoke", "--out", str(out_dir), "--set", override])
    err = capsys.readouterr().err
    assert any(s in err for s in match.split("|")), err
    assert not any(out_dir.iterdir())
