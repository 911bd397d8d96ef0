"""Saving and loading experiment results: ``<stem>.npz`` (arrays) + ``<stem>.json`` (config and metadata).

Both files are written atomically (temporary file in the same directory, then ``os.replace``), so an
interrupted run never leaves a truncated result behind.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Atomically saves ``arrays`` (name → array-like) as an uncompressed ``.npz``."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads an ``.npz`` written by ``save_npz`` into a plain dict."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def save_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically saves ``obj`` as indented JSON (numpy scalars/arrays converted)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_to_json) + "\n").encode())


def _to_json(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_results(
    stem: str | os.PathLike, arrays: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
    """Saves ``<stem>.npz`` and ``<stem>.json`` (the JSON last, so its presence marks a complete result)."""
    stem = Path(stem)
    save_npz(stem.with_suffix(".npz"), arrays)
    save_json(stem.with_suffix(".json"), dict(meta))


def load_results(stem: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Loads ``(arrays, meta)`` saved by ``save_results``.

    Raises:
      FileNotFoundError: naming the missing file.
    """
    stem = Path(stem)
    for suffix in (".json", ".npz"):
        if not stem.with_suffix(suffix).exists():
            raise FileNotFoundError(f"no saved results at {stem.with_suffix(suffix)}")
    meta = json.loads(stem.with_suffix(".json").read_text())
    return load_npz(stem.with_suffix(".npz")), meta


def git_revision(cwd: str | os.PathLike | None = None) -> str:
    """The current git commit (with ``-dirty`` if the tree has changes), or ``"unknown"``."""
    try:
        cwd = cwd or Path(__file__).resolve().parent

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()

        rev = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_metadata() -> dict[str, Any]:
    """Package and JAX versions, devices, platform, git revision and a timestamp."""
    import jax

    import spectral_layers

    return {
        "spectral_layers_version": spectral_layers.__version__,
        "jax_version": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "backend": jax.default_backend(),
        "x64": bool(jax.config.jax_enable_x64),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_revision": git_revision(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
