"""MNIST, Fashion-MNIST and CIFAR-10 for the real-data experiments (paper §6.3, App. 14–15).

``load_dataset(name, split=..., data_dir=None)`` returns ``(images, labels)`` as NumPy arrays:
``uint8`` images ``(N, 28, 28)`` (MNIST, Fashion-MNIST) or ``(N, 32, 32, 3)`` (CIFAR-10, channels
last) and ``int64`` labels ``(N,)`` in ``0..9``. ``preprocess`` flattens them to ``(N, D)`` floats
(``D = 784`` or ``3072``, paper App. 14) and ``sample_points`` draws the paper's "1000 randomly
sampled training points" with an explicit PRNG key.

Where the files come from
-------------------------
* ``data_dir=None`` (default): the cache directory ``default_data_dir() / SUBDIRS[name]``, where
  ``default_data_dir()`` is ``$SPECTRAL_LAYERS_DATA``, else ``$XDG_CACHE_HOME/spectral_layers``,
  else ``~/.cache/spectral_layers``. Missing files are downloaded from ``MIRRORS[name]`` (or
  ``mirrors=``) when ``download=True``; a later call reads the cache without touching the network.
  For an offline machine, copy the official files there (the error message says which files and
  where): the ``.gz`` IDX files for MNIST and Fashion-MNIST, ``cifar-10-python.tar.gz`` (extracted
  on first use) or its ``cifar-10-batches-py/`` folder.
* ``data_dir=DIR``: only ``DIR`` is read and the network is never used. The files may sit in ``DIR``
  itself or in the usual sub-folder (``DIR/mnist``, ``DIR/MNIST/raw``, ``DIR/fashion_mnist``,
  ``DIR/cifar-10-batches-py``, ``DIR/cifar10/cifar-10-batches-py``, …; see ``_CANDIDATE_SUBDIRS``),
  so the parent of several datasets, or the cache root, works too. IDX files may be gzipped or raw;
  CIFAR-10 may also be the unextracted archive (read in memory, ``DIR`` is never written to).

Integrity policy
----------------
* Every file is validated structurally: IDX magic number, element type, dimensions and exact payload
  length; gzip and tar streams; CIFAR pickles' keys, shapes, dtype and label range. Any defect
  (wrong magic, truncation, trailing bytes, bad gzip/pickle, label out of range, images/labels count
  mismatch) raises ``DatasetCorruptError`` naming the file. A dataset is never returned partially in
  silence.
* Downloaded files and files in the cache must also match the published size and checksums in
  ``RESOURCES`` (every checksum listed for a file must match); otherwise ``DatasetCorruptError``. A
  download goes to a temporary file in the destination directory and is renamed into place
  (``os.replace``) only after it is verified, so a failed, truncated or wrong download leaves
  nothing behind.
* Files in a user-given ``data_dir`` whose checksum differs from the published one only trigger a
  ``DatasetWarning`` (re-compressed or rebuilt copies of the same images are common; the structural
  checks still apply). Raw (un-gzipped) IDX files have no published checksum and are checked
  structurally only.
* CIFAR pickles are read with a restricted unpickler that only resolves the NumPy array
  constructors, so a malicious pickle cannot run code; anything else is a ``DatasetCorruptError``.

Splits
------
``split="train"`` or ``"test"`` ask for that split. ``split="any"`` takes the training split (the
paper's choice) when it is available (locally or by download) and otherwise falls back to the test
split with a ``DatasetWarning`` saying so. A CIFAR-10 training split with only some of its five
batches is used only when ``min_points`` is given and met, again with a warning naming the batches
used. ``min_points`` is a requirement (``DatasetUnavailableError`` if fewer images are available),
never a truncation: draw the subset with ``sample_points`` / ``sample_indices``.

Checksums: MD5s from torchvision (``torchvision/datasets/mnist.py``, ``cifar.py``); SHA-256s and
sizes from TensorFlow Datasets (``tensorflow_datasets/url_checksums/mnist.txt``,
``fashion_mnist.txt``) and, for the CIFAR-10 archive, Keras (``keras/datasets/cifar10.py``:
``file_hash``; size 170,498,071 bytes).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import io
import math
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from spectral_layers import _validation as val

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MIRRORS",
    "NORMALIZATIONS",
    "RESOURCES",
    "SPLITS",
    "SUBDIRS",
    "DatasetCorruptError",
    "DatasetError",
    "DatasetUnavailableError",
    "DatasetWarning",
    "RemoteFile",
    "default_data_dir",
    "download_file",
    "load_dataset",
    "preprocess",
    "read_cifar_batch",
    "read_idx",
    "sample_indices",
    "sample_points",
]


# -------------------------------------------------------------------------------------------------
# Errors and warnings.


class DatasetError(RuntimeError):
    """Base class of the dataset errors."""


class DatasetUnavailableError(DatasetError):
    """The data is neither on disk nor downloadable; the message says which files to put where."""


class DatasetCorruptError(DatasetError):
    """A file is truncated, malformed or fails its checksum; the message names the file."""


class DatasetWarning(UserWarning):
    """Usable but non-standard data: a fallback split, a partial split, an unofficial checksum."""


# -------------------------------------------------------------------------------------------------
# Registry: datasets, published files, mirrors.

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test", "any")

_ALIASES = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

SUBDIRS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10"}
"""Sub-folder of the cache root holding each dataset."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A published file: name, size in bytes and checksums (a ``None`` field is not checked)."""

    name: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


def _files(*entries: RemoteFile) -> dict[str, RemoteFile]:
    return {e.name: e for e in entries}


RESOURCES: dict[str, dict[str, RemoteFile]] = {
    # MD5: torchvision MNIST.resources; size and SHA-256: tensorflow_datasets
    # url_checksums/mnist.txt
    # (storage.googleapis.com/cvdf-datasets/mnist/, a copy of LeCun's files: the same sizes).
    "mnist": _files(
        RemoteFile(
            "train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    # MD5: torchvision FashionMNIST.resources; size and SHA-256: tensorflow_datasets
    # url_checksums/fashion_mnist.txt.
    "fashion_mnist": _files(
        RemoteFile(
            "train-images-idx3-ubyte.gz", 26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz", 29515, "25c81989df183df01b3e8a0aad5dffbe",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz", 4422102, "bef4ecab320f06d8554ea6380940ec79",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz", 5148, "bb300cfdad3c16e7a12a480ee83cd310",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
    # Archive MD5: torchvision CIFAR10.tgz_md5; SHA-256: keras/datasets/cifar10.py file_hash.
    # Batch MD5s:
    # torchvision CIFAR10.train_list / test_list.
    "cifar10": _files(
        RemoteFile(
            "cifar-10-python.tar.gz", 170498071, "c58f30108f718f92721af3b95e74349a",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
        RemoteFile("data_batch_1", None, "c99cafc152244af753f735de768cd75f"),
        RemoteFile("data_batch_2", None, "d4bba439e000b95fd0a9bffe97cbabec"),
        RemoteFile("data_batch_3", None, "54ebc095f3ab1f0389bbae665268c751"),
        RemoteFile("data_batch_4", None, "634d18415352ddfa80567beed471001a"),
        RemoteFile("data_batch_5", None, "482c414d41f54cd18b22e5b47cb7c3cb"),
        RemoteFile("test_batch", None, "40351d587109b95175f43aff81a1287e"),
    ),
}  # fmt: skip
"""Published files and their checksums, per dataset (see the module docstring for the sources)."""

MIRRORS: dict[str, list[str]] = {
    # torchvision's current MNIST mirror, then TensorFlow Datasets' (LeCun's page no longer serves
    # the files).
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}
"""Base URLs tried in order for each dataset (override per call: ``load_dataset(mirrors=...)``)."""

_IDX_STEMS = {"train": "train", "test": "t10k"}
_IDX_IMAGE_SHAPE = (28, 28)
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_IMAGE_SHAPE = (32, 32, 3)
_NUM_CLASSES = 10

_CANDIDATE_SUBDIRS = {
    "mnist": (".", "mnist", "MNIST", "MNIST/raw"),
    "fashion_mnist": (
        ".", "fashion_mnist", "fashion-mnist", "FashionMNIST", "FashionMNIST/raw",
    ),
    "cifar10": (".", _CIFAR_FOLDER, "cifar10", f"cifar10/{_CIFAR_FOLDER}", "cifar-10"),
}  # fmt: skip
"""Folders of a user ``data_dir`` searched in order; the first holding any of the files is used."""

_USER_AGENT = "spectral-layers (python urllib)"


def default_data_dir() -> Path:
    """The cache root.

    ``$SPECTRAL_LAYERS_DATA``, else ``$XDG_CACHE_HOME/spectral_layers``, else
    ``~/.cache/spectral_layers``.
    """
    env = os.environ.get("SPECTRAL_LAYERS_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "spectral_layers"


def _canonical_name(name: Any) -> str:
    if not isinstance(name, str) or name.lower() not in _ALIASES:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    return _ALIASES[name.lower()]


# -------------------------------------------------------------------------------------------------
# Checksums and downloads.


def _digests(data_or_path: bytes | Path) -> dict[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    if isinstance(data_or_path, bytes):
        md5.update(data_or_path)
        sha.update(data_or_path)
    else:
        with open(data_or_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                md5.update(chunk)
                sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _checksum_problem(data_or_path: bytes | Path, remote: RemoteFile) -> str | None:
    """``None`` if the size and every listed checksum match ``remote``, else the first mismatch."""
    size = len(data_or_path) if isinstance(data_or_path, bytes) else data_or_path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    if remote.md5 is None and remote.sha256 is None:
        return None
    got = _digests(data_or_path)
    for algo in ("md5", "sha256"):
        want = getattr(remote, algo)
        if want is not None and got[algo] != want.lower():
            return f"{algo.upper()} {got[algo]}, expected {want}"
    return None


def download_file(
    mirrors: Sequence[str],
    remote: RemoteFile,
    dest_dir: str | os.PathLike,
    *,
    timeout: float = 60.0,
) -> Path:
    """Downloads ``remote.name`` from the first mirror that serves it intact, into ``dest_dir``.

    Each attempt streams to a temporary file in ``dest_dir``, checks the size and checksums of
    ``remote``, and only then renames it to ``dest_dir / remote.name`` (atomic on POSIX). A mirror
    that fails (network error, HTTP error, truncated body, wrong bytes) is skipped; the temporary
    file is always removed.

    Args:
      mirrors: base URLs (``http(s)://`` or ``file://``); the file's URL is the base, a ``/`` and
        ``remote.name``.
      remote: the file's name, size and checksums.
      dest_dir: the destination directory (created if needed).
      timeout: socket timeout in seconds for each request.

    Returns:
      The path of the verified file.

    Raises:
      DatasetCorruptError: some mirror answered but no answer had the right size and checksums.
      DatasetUnavailableError: no mirror could be reached (e.g. no network); the message lists each
        failure.
    """
    if not mirrors:
        raise DatasetUnavailableError(f"no mirror to download {remote.name} from")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.name
    failures: list[str] = []
    corrupt = False
    # A fresh opener reads the proxy settings of the environment at each call.
    opener = urllib.request.build_opener()
    for base in mirrors:
        url = base.rstrip("/") + "/" + remote.name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            print(f"spectral_layers: downloading {url}", file=sys.stderr)
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with os.fdopen(fd, "wb") as f, opener.open(request, timeout=timeout) as response:
                shutil.copyfileobj(response, f, length=1 << 20)
            problem = _checksum_problem(tmp, remote)
            if problem is not None:
                corrupt = True
                failures.append(f"{url}: downloaded file has {problem}")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            failures.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    detail = "\n  ".join(failures)
    if corrupt:
        raise DatasetCorruptError(
            f"could not download a valid {remote.name} (nothing was written to {dest_dir}):"
            f"\n  {detail}"
        )
    raise DatasetUnavailableError(f"could not download {remote.name}:\n  {detail}")


# -------------------------------------------------------------------------------------------------
# File formats.

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, gunzipped when it starts with the gzip magic ``1f 8b``."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetCorruptError(f"{path}: cannot read: {e}") from e
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    # BadGzipFile is an OSError; a truncated stream is an EOFError.
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetCorruptError(f"{path}: corrupt or truncated gzip stream ({e})") from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (LeCun et al.'s MNIST format), gzipped or raw.

    Format: two zero bytes, a type byte (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C``
    int32, ``0x0D`` float32, ``0x0E`` float64), a byte with the number of dimensions, one
    big-endian uint32 per dimension, then the data in C order, big-endian. MNIST images have magic
    ``0x00000803`` (uint8, 3-d), labels ``0x00000801``.

    Raises:
      DatasetCorruptError: bad gzip stream, wrong magic, unknown type, or a payload shorter
        (truncated) or longer (trailing bytes) than the header says; the message names the file.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise DatasetCorruptError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetCorruptError(
            f"{path}: not an IDX file (magic number 0x{int.from_bytes(data[:4], 'big'):08x}; "
            "expected "
            "0x00000801 for labels or 0x00000803 for images)"
        )
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetCorruptError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DatasetCorruptError(
            f"{path}: IDX file {what}: header says shape {dims} ({expected} data bytes), "
            f"found {got}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can only build NumPy arrays (and bytes, via ``_codecs.encode``).

    A CIFAR batch needs nothing else, and nothing else can run.
    """

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            # Python 3 pickles bytes at protocol <= 2 as _codecs.encode(str, "latin1"): harmless.
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        # The NumPy 1.x module name: avoid the deprecated numpy.core alias.
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def read_cifar_batch(
    source: str | os.PathLike | bytes, *, label: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Reads one CIFAR-10 python batch (``data_batch_i`` / ``test_batch``).

    A batch is a pickled dict with ``b"data"``: ``uint8`` array ``(N, 3072)`` whose rows hold the
    red, green and blue 32×32 planes one after the other, each row-major (Krizhevsky, 2009), and
    ``b"labels"``: ``N`` ints in ``0..9``. (``str`` keys are accepted too.)

    Args:
      source: a path, or the file's bytes.
      label: the name used in error messages (default: the path).

    Returns:
      ``(images, labels)``: ``uint8`` ``(N, 32, 32, 3)`` (channels last) and ``int64`` ``(N,)``.

    Raises:
      DatasetCorruptError: unreadable pickle, a forbidden global, missing keys, wrong shape/dtype,
        labels out of range; the message names the file.
    """
    if isinstance(source, bytes):
        raw, label = source, label or "<bytes>"
    else:
        label = label or str(source)
        try:
            raw = Path(source).read_bytes()
        except OSError as e:
            raise DatasetCorruptError(f"{label}: cannot read: {e}") from e
    try:
        entry = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:
        raise DatasetCorruptError(
            f"{label}: not a valid CIFAR-10 batch pickle (truncated or corrupt): "
            f"{type(e).__name__}: {e}"
        ) from e
    if not isinstance(entry, dict):
        raise DatasetCorruptError(f"{label}: expected a pickled dict, got {type(entry).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or "labels" not in entry:
        raise DatasetCorruptError(
            f"{label}: missing 'data' or 'labels' (keys: {sorted(map(str, entry))})"
        )
    data, labels = entry["data"], entry["labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetCorruptError(f"{label}: 'data' must be a uint8 array (N, 3072), got {desc}")
    try:
        labels_n = np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise DatasetCorruptError(f"{label}: 'labels' is not a list of integers") from e
    if labels_n.ndim != 1 or not np.issubdtype(labels_n.dtype, np.integer):
        raise DatasetCorruptError(
            f"{label}: 'labels' must be N integers, got {labels_n.dtype} {labels_n.shape}"
        )
    if labels_n.shape[0] != data.shape[0]:
        raise DatasetCorruptError(f"{label}: {data.shape[0]} images but {labels_n.shape[0]} labels")
    _check_label_range(labels_n, label)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels_n.astype(np.int64)


def _check_label_range(labels: np.ndarray, label: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise DatasetCorruptError(
            f"{label}: labels must lie in 0..{_NUM_CLASSES - 1}, "
            f"found {labels.min()}..{labels.max()}"
        )


# -------------------------------------------------------------------------------------------------
# Locating and reading one split.


@dataclasses.dataclass
class _Located:
    """What of one split is on disk: ``parts`` (path, or archive member) and ``missing`` names."""

    parts: list[tuple[str, Any]]  # (published name, Path | (archive Path, member name))
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def empty(self) -> bool:
        return not self.parts


def _idx_names(split: str) -> tuple[str, str]:
    stem = _IDX_STEMS[split]
    return f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte"


def _locate(name: str, directory: Path, split: str) -> _Located:
    if name in ("mnist", "fashion_mnist"):
        parts, missing = [], []
        for base in _idx_names(split):
            for candidate in (directory / f"{base}.gz", directory / base):
                if candidate.is_file():
                    parts.append((candidate.name, candidate))
                    break
            else:
                missing.append(f"{base}.gz")
        # Images and labels come as a pair: half a pair is not a usable part.
        return _Located(parts if not missing else [], missing)
    # CIFAR-10: the batch folder (or ``directory`` itself), else the archive.
    # A complete batch folder wins; then the archive; then a partial batch folder.
    partial = None
    for folder in (directory / _CIFAR_FOLDER, directory):
        found = [b for b in _CIFAR_BATCHES[split] if (folder / b).is_file()]
        if found:
            missing = [b for b in _CIFAR_BATCHES[split] if b not in found]
            partial = _Located([(b, folder / b) for b in found], missing)
            break
    if partial is not None and partial.complete:
        return partial
    archive = directory / _CIFAR_ARCHIVE
    if archive.is_file():
        return _Located([(b, (archive, f"{_CIFAR_FOLDER}/{b}")) for b in _CIFAR_BATCHES[split]], [])
    return partial if partial is not None else _Located([], list(_CIFAR_BATCHES[split]))


def _check_file(
    name: str, published: str, source: Path | bytes, label: str, *, strict: bool
) -> None:
    """Checks ``source`` against the published file ``published`` (strict: error, else warning)."""
    remote = RESOURCES[name].get(published)
    if remote is None:  # e.g. a raw (un-gzipped) IDX file: no published checksum
        return
    problem = _checksum_problem(source, remote)
    if problem is None:
        return
    if strict:
        raise DatasetCorruptError(
            f"{label}: checksum mismatch with the published {published} ({problem}). Delete it "
            "to download it again, or, if it is a copy you made yourself, pass "
            "data_dir=<its folder> to validate it "
            "structurally instead."
        )
    warnings.warn(
        f"{label} differs from the published {published} ({problem}); it passed the structural "
        "checks and "
        "is used as is.",
        DatasetWarning,
        stacklevel=4,
    )


def _read_archive_members(archive: Path, members: Sequence[str]) -> dict[str, bytes]:
    wanted, out = set(members), {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isfile():
                    f = tar.extractfile(info)
                    if f is not None:
                        out[info.name] = f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DatasetCorruptError(f"{archive}: corrupt or truncated archive ({e})") from e
    missing = sorted(wanted - set(out))
    if missing:
        raise DatasetCorruptError(f"{archive}: archive lacks {', '.join(missing)}")
    return out


def _read_split(name: str, loc: _Located, *, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    if name in ("mnist", "fashion_mnist"):
        (img_name, img_path), (lab_name, lab_path) = loc.parts
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.dtype != np.uint8 or images.shape[1:] != _IDX_IMAGE_SHAPE:
            raise DatasetCorruptError(
                f"{img_path}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DatasetCorruptError(
                f"{lab_path}: expected uint8 labels (N,), got {labels.dtype} {labels.shape}"
            )
        if images.shape[0] != labels.shape[0]:
            raise DatasetCorruptError(
                f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                f"{labels.shape[0]} labels"
            )
        _check_label_range(labels, str(lab_path))
        _check_file(name, img_name, img_path, str(img_path), strict=strict)
        _check_file(name, lab_name, lab_path, str(lab_path), strict=strict)
        return images, labels.astype(np.int64)
    # CIFAR-10.
    in_archive = [src for _, src in loc.parts if isinstance(src, tuple)]
    member_bytes: dict[str, bytes] = {}
    if in_archive:
        archive = in_archive[0][0]
        _check_file(name, _CIFAR_ARCHIVE, archive, str(archive), strict=strict)
        member_bytes = _read_archive_members(archive, [m for _, m in in_archive])
    images, labels = [], []
    for published, src in loc.parts:
        if isinstance(src, tuple):
            label, data = f"{src[0]}:{src[1]}", member_bytes[src[1]]
            imgs, labs = read_cifar_batch(data, label=label)
            _check_file(name, published, data, label, strict=strict)
        else:
            imgs, labs = read_cifar_batch(src)
            _check_file(name, published, src, str(src), strict=strict)
        images.append(imgs)
        labels.append(labs)
    return np.concatenate(images), np.concatenate(labels)


def _extract_cifar_archive(directory: Path) -> None:
    """Extracts the verified archive to ``directory/cifar-10-batches-py``, each file atomically."""
    archive = directory / _CIFAR_ARCHIVE
    _check_file("cifar10", _CIFAR_ARCHIVE, archive, str(archive), strict=True)
    names = [*_CIFAR_BATCHES["train"], *_CIFAR_BATCHES["test"]]
    members = _read_archive_members(archive, [f"{_CIFAR_FOLDER}/{b}" for b in names])
    folder = directory / _CIFAR_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for b in names:
        data = members[f"{_CIFAR_FOLDER}/{b}"]
        _check_file("cifar10", b, data, f"{archive}:{_CIFAR_FOLDER}/{b}", strict=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{b}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp_name, folder / b)
        finally:
            Path(tmp_name).unlink(missing_ok=True)


def _download_split(
    name: str, directory: Path, split: str, mirrors: Sequence[str], timeout: float
) -> None:
    if name == "cifar10":
        archive = directory / _CIFAR_ARCHIVE
        if not archive.is_file():
            download_file(mirrors, RESOURCES[name][_CIFAR_ARCHIVE], directory, timeout=timeout)
        _extract_cifar_archive(directory)
        return
    for base in _idx_names(split):
        if not (directory / f"{base}.gz").is_file() and not (directory / base).is_file():
            download_file(mirrors, RESOURCES[name][f"{base}.gz"], directory, timeout=timeout)


def _expected_files_text(name: str, split: str) -> str:
    splits = ("train", "test") if split == "any" else (split,)
    if name == "cifar10":
        a = RESOURCES[name][_CIFAR_ARCHIVE]
        batches = [b for s in splits for b in _CIFAR_BATCHES[s]]
        return (
            f"  {_CIFAR_ARCHIVE} (md5 {a.md5}, from {MIRRORS[name][0]}), or its extracted folder "
            f"{_CIFAR_FOLDER}/ holding {', '.join(batches)}"
        )
    lines = []
    for s in splits:
        for base in _idx_names(s):
            r = RESOURCES[name][f"{base}.gz"]
            lines.append(f"  {base}.gz (md5 {r.md5}) or the un-gzipped {base}")
    return "\n".join(lines)


def _pick_user_directory(name: str, root: Path) -> Path | None:
    for sub in _CANDIDATE_SUBDIRS[name]:
        d = root if sub == "." else root / sub
        if d.is_dir() and any(not _locate(name, d, s).empty for s in ("train", "test")):
            return d
    return None


# -------------------------------------------------------------------------------------------------
# Public loader.


def load_dataset(
    name: str,
    *,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    min_points: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = 60.0,
    with_split: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, str]:
    """Loads MNIST, Fashion-MNIST or CIFAR-10 (see the module docstring for the file and integrity
    policy).

    Args:
      name: ``"mnist"``, ``"fashion_mnist"`` (or ``"fashion-mnist"``) or ``"cifar10"`` (or
        ``"cifar-10"``).
      split: ``"train"``, ``"test"``, or ``"any"`` (train if available, else test with a
        ``DatasetWarning``).
      data_dir: a local folder to read instead of the cache (never written to, no download).
      download: whether missing cache files may be downloaded (ignored with ``data_dir``).
      min_points: the number of images the caller needs; fewer is a ``DatasetUnavailableError``. It
        also allows a partial CIFAR-10 training split (some of ``data_batch_1..5``) that holds
        enough images.
      cache_dir: the cache root (default ``default_data_dir()``); the dataset lives in
        ``SUBDIRS[name]`` below.
      mirrors: base URLs to download from (default ``MIRRORS[name]``).
      timeout: socket timeout per download request, seconds.
      with_split: also return the split that was read (``"train"`` or ``"test"``: with ``split="any"`` the
        caller learns which one it got).

    Returns:
      ``(images, labels)``: ``uint8`` images ``(N, 28, 28)`` or ``(N, 32, 32, 3)``, ``int64`` labels
      ``(N,)``, in file order; ``(images, labels, split)`` with ``with_split=True``.

    Raises:
      DatasetUnavailableError: the split is not on disk and cannot be downloaded, or has fewer than
        ``min_points`` images; the message lists the files to provide and the folder to put them in.
      DatasetCorruptError: a file is malformed, truncated, or (cache/download) fails its checksum.
      ValueError, TypeError: bad arguments.
    """
    name = _canonical_name(name)
    val.check_choice(split, "split", SPLITS)
    if min_points is not None:
        min_points = val.check_positive_int(min_points, "min_points")
    mirrors = list(MIRRORS[name] if mirrors is None else mirrors)
    root, directory, strict, can_download = _source(name, split, data_dir, cache_dir, download)
    where, title = str(directory), _TITLES[name]
    wanted = ("train", "test") if split == "any" else (split,)
    notes: list[str] = []
    for s in wanted:
        loc = _locate(name, directory, s)
        if data_dir is None and any(isinstance(src, tuple) for _, src in loc.parts):
            _extract_cifar_archive(directory)  # an archive in the cache, e.g. copied there by hand
            loc = _locate(name, directory, s)
        if not loc.complete and can_download:
            try:
                _download_split(name, directory, s, mirrors, timeout)
            except DatasetUnavailableError as e:
                notes.append(str(e))
                can_download = False  # the network is down: do not retry for the next split
            loc = _locate(name, directory, s)
        if loc.empty:
            notes.append(f"{s} split: missing {', '.join(loc.missing)}")
            continue
        if not loc.complete and min_points is None:
            notes.append(
                f"{s} split: only {', '.join(p for p, _ in loc.parts)} present (missing "
                f"{', '.join(loc.missing)}); pass min_points to use a partial split"
            )
            continue
        images, labels = _read_split(name, loc, strict=strict)
        if min_points is not None and images.shape[0] < min_points:
            notes.append(f"{s} split: {images.shape[0]} images, fewer than min_points={min_points}")
            continue
        if not loc.complete:
            warnings.warn(
                f"{title}: using a partial {s} split ({', '.join(p for p, _ in loc.parts)}: "
                f"{images.shape[0]} images) from {where}; missing {', '.join(loc.missing)}",
                DatasetWarning,
                stacklevel=2,
            )
        if s != wanted[0]:
            warnings.warn(
                f"{title}: the train split is not available, using the test split "
                f"({images.shape[0]} images) from {where}. Reason: {'; '.join(notes)}",
                DatasetWarning,
                stacklevel=2,
            )
        return (images, labels, s) if with_split else (images, labels)
    raise _unavailable_error(name, split, root, directory, data_dir, download, notes)


def _source(
    name: str, split: str, data_dir: Any, cache_dir: Any, download: bool
) -> tuple[Path, Path, bool, bool]:
    """``(root, directory, strict, can_download)``: where ``load_dataset`` reads the dataset from."""
    title = _TITLES[name]
    if data_dir is None:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_data_dir()
        return root, root / SUBDIRS[name], True, download
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"data_dir {root} does not exist or is not a directory. {title} ({split} split) "
            "needs these "
            f"files in it (or in a sub-folder such as {_CANDIDATE_SUBDIRS[name][1]}/):\n"
            + _expected_files_text(name, split)
        )
    directory = _pick_user_directory(name, root)
    if directory is None:
        raise DatasetUnavailableError(
            f"no {title} files in {root} (searched {', '.join(_CANDIDATE_SUBDIRS[name])}). "
            f"Put these files in {root}:\n" + _expected_files_text(name, split)
        )
    return root, directory, False, False


def _unavailable_error(
    name: str,
    split: str,
    root: Path,
    directory: Path,
    data_dir: Any,
    download: bool,
    notes: list[str],
) -> DatasetUnavailableError:
    """The error of ``load_dataset`` when no wanted split could be read: what is missing, where to put it."""
    how = f"Put these files in {directory}" if data_dir is None else f"Put these files in {root}"
    hint = (
        " (or pass data_dir=<a folder holding them>; set $SPECTRAL_LAYERS_DATA to move the cache)"
        if data_dir is None
        else ""
    )
    return DatasetUnavailableError(
        f"{_TITLES[name]} ({split} split) is not available in {directory}"
        + ("" if data_dir is not None or download else " and download=False")
        + ".\n"
        + "\n".join(notes)
        + f"\n{how}{hint}:\n"
        + _expected_files_text(name, split)
    )


# -------------------------------------------------------------------------------------------------
# Preprocessing and subsampling (paper App. 14).

NORMALIZATIONS = ("none", "sphere", "sqrt_dim")


def preprocess(
    images: Any,
    *,
    scale: bool = True,
    center: bool | Any = False,
    normalize: str = "none",
    standardize: bool = False,
    dtype: Any = None,
) -> Float[Array, "n d"]:
    """Flattens images to ``(N, D)`` vectors (paper App. 14: ``D = 784`` for MNIST, ``3072`` for
    CIFAR-10).

    The steps, in order:

    1. flatten each image in C order (CIFAR-10: ``(32, 32, 3)`` channels last → pixel-major, RGB
       interleaved);
    2. ``scale``: divide by 255, so ``uint8`` pixels lie in ``[0, 1]``;
    3. ``center``: ``True`` subtracts the mean image of ``images`` (per feature); an array of shape
       ``(D,)`` (e.g. a training-set mean) is subtracted as given;
    4. ``standardize``: divide each feature by its standard deviation over ``images`` (after the
       centring of step 3, so with ``center=True`` every feature has mean 0 and variance 1, the usual
       z-scoring); features with zero standard deviation (e.g. MNIST's always-black border pixels)
       are left unscaled;
    5. ``normalize``: ``"sphere"`` divides each row by its Euclidean norm (inputs on ``S^{D-1}``,
       the setting of the paper's theory, §5; pair it with ``init_mlp(..., input_scaling="none")``);
       ``"sqrt_dim"`` rescales rows to norm ``sqrt(D)`` (unit mean-square entries; pair it with
       ``input_scaling="fan_in"``, which then gives the same first-layer pre-activations);
       ``"none"`` leaves them.

    Args:
      images: array ``(N, ...)`` (any integer or float dtype).
      scale, center, standardize, normalize: see above.
      dtype: output float dtype (default: ``images``' dtype if floating, else JAX's default float).

    Returns:
      ``(N, D)`` float array.

    Raises:
      ValueError: on fewer than 2 dimensions, an empty array, non-finite values, a ``center`` of the
        wrong shape, or (with ``normalize``) a zero row.
    """
    val.check_choice(normalize, "normalize", NORMALIZATIONS)
    arr = jnp.asarray(images)
    if arr.ndim < 2:
        raise ValueError(
            f"images must have shape (N, ...) with at least 2 dimensions, got {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"images must be non-empty, got shape {arr.shape}")
    if dtype is None:
        dtype = arr.dtype if jnp.issubdtype(arr.dtype, jnp.floating) else jnp.result_type(float)
    x = arr.reshape(arr.shape[0], -1).astype(dtype)
    x = val.check_inputs(x, "images")
    if scale:
        x = x / 255
    if isinstance(center, bool):
        if center:
            x = x - x.mean(axis=0, keepdims=True)
    else:
        mean = jnp.asarray(center, dtype)
        if mean.shape != (x.shape[1],):
            raise ValueError(
                f"center must be a bool or an array of shape ({x.shape[1]},), got {mean.shape}"
            )
        x = x - mean[None, :]
    if standardize:
        std = x.std(axis=0)
        x = x / jnp.where(std > 0, std, 1)[None, :]
    if normalize != "none":
        norms = jnp.linalg.norm(x, axis=1, keepdims=True)
        if val.is_concrete(norms) and bool((np.asarray(norms) == 0).any()):
            bad = int(np.flatnonzero(np.asarray(norms)[:, 0] == 0)[0])
            raise ValueError(
                f"row {bad} of images has zero norm: cannot normalize it ({normalize!r})"
            )
        target = 1.0 if normalize == "sphere" else math.sqrt(x.shape[1])
        x = x * (target / norms)
    return x


def sample_indices(key: jax.Array, num_total: int, n: int) -> Int[Array, " n"]:
    """``n`` distinct indices drawn uniformly from ``range(num_total)``, in random order."""
    num_total = val.check_positive_int(num_total, "num_total")
    n = val.check_positive_int(n, "n")
    if n > num_total:
        raise ValueError(f"cannot sample n={n} points without replacement from {num_total}")
    return jax.random.choice(key, num_total, (n,), replace=False)


def sample_points(key: jax.Array, x: Any, n: int) -> Any:
    """``n`` rows of ``x`` drawn without replacement (the paper's 1000 random training points, App.
    14).

    ``sample_points(key, x, n)`` equals ``x[sample_indices(key, len(x), n)]``, so the labels of the
    same points are ``labels[sample_indices(key, len(labels), n)]``. A NumPy ``x`` gives a NumPy
    result (no copy of the whole dataset to the device), anything else a JAX array.
    """
    if not hasattr(x, "shape") or len(x.shape) == 0:
        raise TypeError(f"x must be an array with a leading points axis, got {type(x).__name__}")
    idx = sample_indices(key, int(x.shape[0]), n)
    if isinstance(x, np.ndarray):
        return x[np.asarray(idx)]
    return jnp.asarray(x)[idx]
