"""The examples run end to end at a tiny size on synthetic data (their ``main``, as a user calls it)."""

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # linen dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name,argv,layers",
    [
        (
            "linen_cnn_cifar",
            ["--n", "6", "--channels", "3"],
            ["Conv_0", "Conv_1", "Conv_2", "Dense_0"],
        ),
        (
            "nnx_mlp_mnist",
            ["--n", "6", "--width", "8", "--depth", "3"],
            ["layers/0", "layers/1", "layers/2"],
        ),
    ],
)
def test_example_runs_tiny(name, argv, layers, capsys):
    assert _load(name).main(["--synthetic", *argv]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == layers
    last = (
        [float(v) for v in out[-1].split()[-2:]]
        if name == "nnx_mlp_mnist"
        else [float(out[-1].split()[-1])]
    )
    assert last == pytest.approx([1.0] * len(last))  # the last layer relative to itself


@pytest.mark.slow
def test_bring_your_own_model_runs(capsys):
    """README's *Bring your own model* code: logits, nnx.scan, a Transformer on token ids."""
    module = _load("bring_your_own_model")
    traced, per_class, c = module.classifier()
    assert traced["Dense_0"].shape == (64, 64) and per_class["Dense_0"].shape == (8, 8, 10, 10)
    assert list(c) == ["Conv_0", "Conv_1", "Dense_0"]
    assert module.main() == 0
    out = capsys.readouterr().out
    assert "blocks/linear" in out and "attention/query" in out
    names = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert names[-9:] == [
        "embed",
        "ln1",
        "attention/query",
        "attention/key",
        "attention/value",
        "attention/out",
        "ln2",
        "mlp",
        "logits",
    ]
