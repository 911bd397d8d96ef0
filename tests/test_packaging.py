"""Packaging: ``python -m build`` makes a wheel and an sdist that ``twine check`` accepts, and the wheel
installs in a fresh virtual environment and imports (from there, not from this checkout)."""

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import spectral_layers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.slow
def test_build_makes_wheel_and_sdist_that_twine_accepts(dist):
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    version = spectral_layers.__version__
    assert [w.name for w in wheels] == [f"spectral_layers-{version}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"spectral_layers-{version}.tar.gz"]
    r = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.count("PASSED") == 2, r.stdout + r.stderr
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "spectral_layers/empirical.py" in names and "experiments/__main__.py" in names
    assert not any(n.startswith(("tests/", "docs/", "figures/")) for n in names)
    with tarfile.open(sdists[0]) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    assert {"pyproject.toml", "README.md", "spectral_layers/empirical.py"} <= members


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_imports(dist, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    # the dependencies (jax, flax, …) are this environment's: no download; the package is the wheel's
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True
    )
    code = (
        "import importlib.metadata as md, json, spectral_layers as sl, experiments;"
        "import experiments.fig2_sphere_d10;"
        "print(json.dumps({'file': sl.__file__, 'version': sl.__version__,"
        " 'dist': md.version('spectral-layers'), 'n': len(sl.__all__),"
        " 'requires': md.requires('spectral-layers')}))"
    )
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    r = subprocess.run(
        [str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    info = json.loads(r.stdout)
    assert Path(info["file"]).is_relative_to(venv)  # imported from the wheel, not this checkout
    assert info["version"] == info["dist"] == spectral_layers.__version__
    assert info["n"] == len(spectral_layers.__all__)
    assert any(req.startswith("jax>=") for req in info["requires"])
    assert (venv / "bin" / "spectral-layers-experiments").exists()
