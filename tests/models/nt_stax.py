"""Two neural-tangents ``stax`` networks (finite width): a narrow CNN and a WideResNet.

Sources (google/neural-tangents v0.6.5, Apache-2.0, Copyright Google LLC):
  * ``narrow_cnn``: the "narrow CNN" of the ``neural_tangents/_src/empirical.py`` module docstring;
  * ``wide_resnet``: ``WideResnetBlock`` / ``WideResnetGroup`` / ``WideResnet`` of ``README.md``
    ("Infinitely WideResnet").

Departures from the sources: re-written, not copied (see ``tests/models/__init__.py``); the layers, their order
and their arguments are the sources'. ``stax`` is passed in (neural-tangents is imported through
``spectral_layers.nt_compat``). The tests use the finite network ``apply_fn(params, x)`` with ``params`` from
``init_fn`` (NTK parameterisation, stax's default), at tiny widths given as arguments (``channels`` of the CNN,
``k`` of the WideResNet).
"""


def narrow_cnn(stax, channels=32, num_classes=10):
    """Three 3×3 VALID convolutions with ReLU, flatten, dense readout."""
    return stax.serial(
        stax.Conv(channels, (3, 3)),
        stax.Relu(),
        stax.Conv(channels, (3, 3)),
        stax.Relu(),
        stax.Conv(channels, (3, 3)),
        stax.Flatten(),
        stax.Dense(num_classes),
    )


def wide_resnet_block(stax, channels, strides=(1, 1), channel_mismatch=False):
    """Pre-activation residual block; a 3×3 convolution on the shortcut when channels change."""
    main = stax.serial(
        stax.Relu(),
        stax.Conv(channels, (3, 3), strides, padding="SAME"),
        stax.Relu(),
        stax.Conv(channels, (3, 3), padding="SAME"),
    )
    if channel_mismatch:
        shortcut = stax.Conv(channels, (3, 3), strides, padding="SAME")
    else:
        shortcut = stax.Identity()
    return stax.serial(stax.FanOut(2), stax.parallel(main, shortcut), stax.FanInSum())


def wide_resnet_group(stax, n, channels, strides=(1, 1)):
    """``n`` blocks, the first one changing channels (and stride)."""
    blocks = [wide_resnet_block(stax, channels, strides, channel_mismatch=True)]
    blocks += [wide_resnet_block(stax, channels, (1, 1)) for _ in range(n - 1)]
    return stax.serial(*blocks)


def wide_resnet(stax, block_size, k, num_classes):
    """WideResNet: stem conv, three groups (widths 16k, 32k, 64k), 8×8 average pool, dense readout."""
    return stax.serial(
        stax.Conv(16, (3, 3), padding="SAME"),
        wide_resnet_group(stax, block_size, int(16 * k)),
        wide_resnet_group(stax, block_size, int(32 * k), (2, 2)),
        wide_resnet_group(stax, block_size, int(64 * k), (2, 2)),
        stax.AvgPool((8, 8)),
        stax.Flatten(),
        stax.Dense(num_classes, 1.0, 0.0),
    )
