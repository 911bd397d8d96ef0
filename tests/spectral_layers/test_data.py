"""Tests for spectral_layers.data: IDX/CIFAR readers, the loader's policies, downloads,
preprocessing.

No network and no external file: every dataset file is written here in its real format (IDX: LeCun
  et al.'s
header layout written with ``struct``; CIFAR-10: a protocol-2 pickle with bytes keys, like the
official batches), and downloads are served by a local ``http.server`` on 127.0.0.1 or by
``file://`` URLs.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_layers import data
from spectral_layers.data import (
    DatasetCorruptError,
    DatasetError,
    DatasetUnavailableError,
    DatasetWarning,
    RemoteFile,
)
from tests._fakes import idx_bytes

RNG = np.random.default_rng(20240607)

# Tiny test files never match the official checksums; tests that care use pytest.warns explicitly.
pytestmark = pytest.mark.filterwarnings("ignore:.*differs from the published:UserWarning")

# -------------------------------------------------------------------------------------------------
# Writers for the real formats (independent of the readers under test).


def mnist_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def mnist_files(split_arrays: dict[str, tuple[np.ndarray, np.ndarray]], *, gz: bool) -> dict:
    """File name -> bytes for the given splits ("train"/"test")."""
    stems = {"train": "train", "test": "t10k"}
    out = {}
    for split, (images, labels) in split_arrays.items():
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{stems[split]}-{kind}-ubyte"
            raw = idx_bytes(arr)
            out[name + ".gz" if gz else name] = gzip.compress(raw, mtime=0) if gz else raw
    return out


def write_files(directory, files: dict[str, bytes]):
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return directory


def cifar_batch(n: int) -> tuple[np.ndarray, list[int], bytes]:
    """A CIFAR-10 batch as the official files store it: dict with bytes keys, pickled with protocol
    2."""
    rows = RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in RNG.integers(0, 10, size=n)]
    entry = {b"batch_label": b"tiny batch", b"labels": labels, b"data": rows, b"filenames": []}
    return rows, labels, pickle.dumps(entry, protocol=2)


def cifar_hwc(rows: np.ndarray) -> np.ndarray:
    """The documented layout: each row holds the R, G, B planes (1024 bytes each), row-major
    32×32."""
    planes = [rows[:, c * 1024 : (c + 1) * 1024].reshape(-1, 32, 32) for c in range(3)]
    return np.stack(planes, axis=-1)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def remote(name: str, content: bytes) -> RemoteFile:
    return RemoteFile(
        name, len(content), hashlib.md5(content).hexdigest(), hashlib.sha256(content).hexdigest()
    )


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# -------------------------------------------------------------------------------------------------
# A local HTTP server (bounded: one thread, shut down after the test).


class _Server:
    def __init__(self):
        self.routes: dict[
            str, tuple[bytes, str]
        ] = {}  # path -> (body, "ok" | "truncated" | "wrong")
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                if self.path not in outer.routes:
                    self.send_error(404)
                    return
                body, mode = outer.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncated":  # announces the full length, sends half, hangs up
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "wrong":  # right length, wrong bytes
                    self.wfile.write(bytes(b ^ 0xFF for b in body))
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server()
    yield srv
    srv.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused): stands for 'no network'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# -------------------------------------------------------------------------------------------------
# Readers.


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    images, labels = mnist_arrays(5)
    write_files(tmp_path, mnist_files({"test": (images, labels)}, gz=gz))
    suffix = ".gz" if gz else ""
    got_images = data.read_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}")
    got_labels = data.read_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}")
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_big_endian_int32(tmp_path):
    # Type 0x0C: big-endian int32 (IDX spec); 258 = 0x00000102.
    arr = np.array([[1, 258], [-1, 70000]], dtype=">i4")
    raw = struct.pack(">BBBB", 0, 0, 0x0C, 2) + struct.pack(">2I", 2, 2) + arr.tobytes()
    (tmp_path / "x.idx").write_bytes(raw)
    got = data.read_idx(tmp_path / "x.idx")
    np.testing.assert_array_equal(got, [[1, 258], [-1, 70000]])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"\x01" + b[1:], "not an IDX file"),  # wrong magic
        (lambda b: b[:2] + b"\x07" + b[3:], "not an IDX file"),  # unknown element type
        (lambda b: b[:-10], "truncated"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b + b"\x00\x00", "trailing bytes"),
    ],
)
def test_read_idx_rejects_malformed(tmp_path, mutate, message):
    images, _ = mnist_arrays(3)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(mutate(idx_bytes(images)))
    with pytest.raises(DatasetCorruptError, match=message) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_truncated_gzip(tmp_path):
    images, _ = mnist_arrays(3)
    gz = gzip.compress(idx_bytes(images))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DatasetCorruptError, match="gzip") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_read_cifar_batch_layout(tmp_path):
    rows, labels, raw = cifar_batch(4)
    (tmp_path / "test_batch").write_bytes(raw)
    images, got_labels = data.read_cifar_batch(tmp_path / "test_batch")
    assert images.dtype == np.uint8 and images.shape == (4, 32, 32, 3)
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(images, cifar_hwc(rows))
    # One pixel by hand: image 2, row 5, column 7, green = byte 1024 + 5 * 32 + 7 of row 2.
    assert images[2, 5, 7, 1] == rows[2, 1024 + 5 * 32 + 7]
    np.testing.assert_array_equal(got_labels, labels)


def test_read_cifar_batch_str_keys():
    rows = RNG.integers(0, 256, size=(2, 3072), dtype=np.uint8)
    raw = pickle.dumps({"data": rows, "labels": [3, 9]}, protocol=4)
    images, labels = data.read_cifar_batch(raw, label="mem")
    np.testing.assert_array_equal(images, cifar_hwc(rows))
    np.testing.assert_array_equal(labels, [3, 9])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda raw: raw[: len(raw) // 2], "not a valid CIFAR-10 batch pickle"),
        (lambda raw: b"garbage" + raw, "not a valid CIFAR-10 batch pickle"),
        (lambda raw: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, 2), "missing"),
        (
            lambda raw: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, 2),
            r"\(N, 3072\)",
        ),
        (
            lambda raw: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, 2),
            "2 images but 1 labels",
        ),
        (
            lambda raw: pickle.dumps(
                {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, 2
            ),
            "labels must lie in",
        ),
    ],
)
def test_read_cifar_batch_rejects_malformed(make, message):
    _, _, raw = cifar_batch(2)
    with pytest.raises(DatasetCorruptError, match=message):
        data.read_cifar_batch(make(raw), label="some_batch")


def test_read_cifar_batch_refuses_foreign_globals():
    # A hand-written protocol-0 pickle that would call builtins.eval("1+1"): refused, never called.
    evil = b"cbuiltins\neval\n(S'1+1'\ntR."
    with pytest.raises(DatasetCorruptError, match=r"refusing to load global builtins\.eval"):
        data.read_cifar_batch(evil, label="evil")


# -------------------------------------------------------------------------------------------------
# Loader: local directories.


def test_load_mnist_from_data_dir_both_splits(tmp_path):
    train, test = mnist_arrays(6), mnist_arrays(4)
    write_files(tmp_path, mnist_files({"train": train, "test": test}, gz=True))
    with pytest.warns(DatasetWarning, match="differs from the published"):  # tiny files ≠ official
        x_tr, y_tr = data.load_dataset("mnist", split="train", data_dir=tmp_path)
    with pytest.warns(DatasetWarning):
        x_te, y_te = data.load_dataset("mnist", split="test", data_dir=tmp_path)
    assert x_tr.shape == (6, 28, 28) and x_tr.dtype == np.uint8
    assert y_tr.shape == (6,) and y_tr.dtype == np.int64
    np.testing.assert_array_equal(x_tr, train[0])
    np.testing.assert_array_equal(y_tr, train[1])
    np.testing.assert_array_equal(x_te, test[0])
    np.testing.assert_array_equal(y_te, test[1])
    assert y_tr.min() >= 0 and y_tr.max() <= 9
    # "any" with the training split present uses it, with no split warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_any, _ = data.load_dataset("mnist", split="any", data_dir=tmp_path)
    np.testing.assert_array_equal(x_any, train[0])
    assert not any("test split" in str(w.message) for w in caught)


def test_load_raw_idx_in_torchvision_layout_without_checksum_warning(tmp_path):
    test = mnist_arrays(4)
    write_files(tmp_path / "MNIST" / "raw", mnist_files({"test": test}, gz=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # raw files have no published checksum: no warning at all
        x, y = data.load_dataset("mnist", split="test", data_dir=tmp_path)
    np.testing.assert_array_equal(x, test[0])
    np.testing.assert_array_equal(y, test[1])


def test_load_fashion_mnist_alias_and_subfolder(tmp_path):
    test = mnist_arrays(3)
    write_files(tmp_path / "fashion_mnist", mnist_files({"test": test}, gz=True))
    with pytest.warns(DatasetWarning):
        x, _ = data.load_dataset("Fashion-MNIST", split="test", data_dir=tmp_path)
    np.testing.assert_array_equal(x, test[0])
    # The MNIST loader does not pick up a fashion_mnist/ sub-folder.
    with pytest.raises(DatasetUnavailableError, match="no MNIST files"):
        data.load_dataset("mnist", split="test", data_dir=tmp_path)


def test_any_falls_back_to_test_split_with_warning(tmp_path):
    test = mnist_arrays(5)
    write_files(tmp_path, mnist_files({"test": test}, gz=True))
    with pytest.warns(DatasetWarning, match="using the test split"):
        x, _ = data.load_dataset("mnist", split="any", data_dir=tmp_path, min_points=5)
    np.testing.assert_array_equal(x, test[0])
    with pytest.warns(DatasetWarning):
        with pytest.raises(DatasetUnavailableError, match="fewer than min_points=6"):
            data.load_dataset("mnist", split="any", data_dir=tmp_path, min_points=6)
    with pytest.raises(DatasetUnavailableError, match=r"train-images-idx3-ubyte\.gz"):
        data.load_dataset("mnist", split="train", data_dir=tmp_path)


@pytest.mark.parametrize(
    "which, mutate, message",
    [
        ("t10k-images-idx3-ubyte", lambda b: b"\x08" + b[1:], "not an IDX file"),
        ("t10k-labels-idx1-ubyte", lambda b: b[:-1], "truncated"),
        ("t10k-labels-idx1-ubyte", lambda b: idx_bytes(np.array([1, 2, 3, 4], np.uint8)), "holds"),
        ("t10k-labels-idx1-ubyte", lambda b: idx_bytes(np.array([1, 2, 10], np.uint8)), "0..9"),
        ("t10k-images-idx3-ubyte", lambda b: idx_bytes(np.zeros((3, 32, 32), np.uint8)), "28, 28"),
    ],
)
def test_load_rejects_corrupt_files_naming_them(tmp_path, which, mutate, message):
    files = mnist_files({"test": mnist_arrays(3)}, gz=False)
    files[which] = mutate(files[which])
    write_files(tmp_path, files)
    with pytest.raises(DatasetCorruptError, match=message) as err:
        data.load_dataset("mnist", split="test", data_dir=tmp_path)
    assert "t10k-" in str(err.value)


def test_missing_or_empty_data_dir(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="does not exist") as err:
        data.load_dataset("mnist", split="test", data_dir=tmp_path / "nowhere")
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailableError, match="no CIFAR-10 files") as err:
        data.load_dataset("cifar10", split="train", data_dir=tmp_path / "empty")
    assert "data_batch_1" in str(err.value) and "cifar-10-python.tar.gz" in str(err.value)


def test_load_cifar_from_folder_or_parent(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    batches = {f"data_batch_{i}": cifar_batch(2) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(3)
    write_files(folder, {k: v[2] for k, v in batches.items()})
    for root in (folder, tmp_path):
        with pytest.warns(DatasetWarning):  # tiny batches ≠ official checksums
            x, y = data.load_dataset("cifar10", split="train", data_dir=root)
        assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
        want = np.concatenate([cifar_hwc(batches[f"data_batch_{i}"][0]) for i in range(1, 6)])
        np.testing.assert_array_equal(x, want)
        np.testing.assert_array_equal(
            y, [lab for i in range(1, 6) for lab in batches[f"data_batch_{i}"][1]]
        )
        with pytest.warns(DatasetWarning):
            x_te, _ = data.load_dataset("cifar10", split="test", data_dir=root)
        np.testing.assert_array_equal(x_te, cifar_hwc(batches["test_batch"][0]))


def test_partial_cifar_train_needs_min_points(tmp_path):
    b1, b2, bt = cifar_batch(2), cifar_batch(2), cifar_batch(3)
    write_files(tmp_path, {"data_batch_1": b1[2], "data_batch_2": b2[2], "test_batch": bt[2]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        with pytest.raises(DatasetUnavailableError, match="pass min_points"):
            data.load_dataset("cifar10", split="train", data_dir=tmp_path)
        with pytest.raises(DatasetUnavailableError, match="fewer than min_points=5"):
            data.load_dataset("cifar10", split="train", data_dir=tmp_path, min_points=5)
    with pytest.warns(DatasetWarning, match="partial train split"):
        x, _ = data.load_dataset("cifar10", split="train", data_dir=tmp_path, min_points=3)
    np.testing.assert_array_equal(x, np.concatenate([cifar_hwc(b1[0]), cifar_hwc(b2[0])]))
    with pytest.warns(DatasetWarning, match="using the test split"):
        x, _ = data.load_dataset("cifar10", split="any", data_dir=tmp_path)
    np.testing.assert_array_equal(x, cifar_hwc(bt[0]))


def test_cifar_archive_in_data_dir_is_read_without_writing(tmp_path):
    bt = cifar_batch(3)
    members = {f"cifar-10-batches-py/data_batch_{i}": cifar_batch(1)[2] for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = bt[2]
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_gz(members))
    before = files_under(tmp_path)
    with pytest.warns(DatasetWarning, match="cifar-10-python.tar.gz differs"):
        x, y = data.load_dataset("cifar10", split="test", data_dir=tmp_path)
    np.testing.assert_array_equal(x, cifar_hwc(bt[0]))
    np.testing.assert_array_equal(y, bt[1])
    assert files_under(tmp_path) == before


def test_truncated_cifar_archive(tmp_path):
    archive = tar_gz({"cifar-10-batches-py/test_batch": cifar_batch(2)[2]})
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(DatasetCorruptError, match=r"cifar-10-python\.tar\.gz"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetWarning)
            data.load_dataset("cifar10", split="test", data_dir=tmp_path)


# -------------------------------------------------------------------------------------------------
# Loader: cache and downloads.


def tiny_mnist_registry(files: dict[str, bytes]) -> dict[str, RemoteFile]:
    return {name: remote(name, content) for name, content in files.items()}


def test_cache_files_are_checksum_verified(tmp_path, monkeypatch):
    files = mnist_files({"test": mnist_arrays(3)}, gz=True)
    cache = tmp_path / "cache"
    write_files(cache / "mnist", files)
    # Against the official checksums, the tiny files are wrong: a hard error naming the file.
    with pytest.raises(DatasetCorruptError, match="checksum mismatch") as err:
        data.load_dataset("mnist", split="test", cache_dir=cache, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    # With matching published checksums the same files load, silently.
    monkeypatch.setitem(data.RESOURCES, "mnist", tiny_mnist_registry(files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, _ = data.load_dataset("mnist", split="test", cache_dir=cache, download=False)
    assert x.shape == (3, 28, 28)


def test_env_var_sets_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTRAL_LAYERS_DATA", str(tmp_path / "env_cache"))
    assert data.default_data_dir() == tmp_path / "env_cache"
    with pytest.raises(DatasetUnavailableError) as err:
        data.load_dataset("mnist", split="test", download=False)
    msg = str(err.value)
    assert str(tmp_path / "env_cache" / "mnist") in msg and "download=False" in msg
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg


def test_download_verifies_and_reuses_cache(tmp_path, monkeypatch, server):
    train, test = mnist_arrays(4), mnist_arrays(2)
    files = mnist_files({"train": train, "test": test}, gz=True)
    monkeypatch.setitem(data.RESOURCES, "mnist", tiny_mnist_registry(files))
    for name, content in files.items():
        server.routes[f"/mirror/{name}"] = (content, "ok")
    cache = tmp_path / "cache"
    kw = dict(cache_dir=cache, mirrors=[f"{server.url}/dead/", f"{server.url}/mirror/"], timeout=5)
    x, y = data.load_dataset("mnist", split="train", **kw)
    np.testing.assert_array_equal(x, train[0])
    np.testing.assert_array_equal(y, train[1])
    # The first mirror 404s, the second serves: 2 files × 2 requests; only the train files fetched.
    assert sorted(server.hits) == sorted(
        f"/{m}/train-{k}-ubyte.gz"
        for m in ("dead", "mirror")
        for k in ("images-idx3", "labels-idx1")
    )
    assert files_under(cache) == [
        "mnist/train-images-idx3-ubyte.gz",
        "mnist/train-labels-idx1-ubyte.gz",
    ]
    n_hits = len(server.hits)
    x2, _ = data.load_dataset("mnist", split="train", **kw)  # from the cache: no request
    np.testing.assert_array_equal(x2, train[0])
    assert len(server.hits) == n_hits


@pytest.mark.parametrize("mode", ["truncated", "wrong"])
def test_failed_download_leaves_nothing(tmp_path, monkeypatch, server, mode):
    files = mnist_files({"test": mnist_arrays(3)}, gz=True)
    monkeypatch.setitem(data.RESOURCES, "mnist", tiny_mnist_registry(files))
    for name, content in files.items():
        server.routes[f"/m/{name}"] = (content, mode)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz") as err:
        data.load_dataset(
            "mnist", split="test", cache_dir=cache, mirrors=[f"{server.url}/m/"], timeout=5
        )
    if mode == "wrong":
        assert isinstance(err.value, DatasetCorruptError) and "MD5" in str(err.value)
    assert files_under(cache) == []  # no partial or temporary file left behind


def test_no_network_gives_one_clear_error(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailableError) as err:
        data.load_dataset(
            "mnist", split="any", cache_dir=cache, mirrors=[closed_port_url()], timeout=5
        )
    msg = str(err.value)
    assert f"Put these files in {cache / 'mnist'}" in msg
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in msg
    assert data.RESOURCES["mnist"]["train-images-idx3-ubyte.gz"].md5 in msg
    assert err.value.__cause__ is None
    assert files_under(cache) == []


def test_any_uses_cached_test_split_when_offline(tmp_path, monkeypatch):
    files = mnist_files({"test": mnist_arrays(3)}, gz=True)
    registry = {**data.RESOURCES["mnist"], **tiny_mnist_registry(files)}  # official train entries
    monkeypatch.setitem(data.RESOURCES, "mnist", registry)
    cache = tmp_path / "cache"
    write_files(cache / "mnist", files)
    with pytest.warns(DatasetWarning, match="using the test split") as rec:
        x, _ = data.load_dataset(
            "mnist", split="any", cache_dir=cache, mirrors=[closed_port_url()], timeout=5
        )
    assert x.shape == (3, 28, 28)
    assert any("could not download train-images-idx3-ubyte.gz" in str(w.message) for w in rec)


def test_download_file_over_file_url(tmp_path):
    content = b"0123456789" * 100
    src = tmp_path / "src"
    write_files(src, {"blob.bin": content})
    out = data.download_file([src.as_uri() + "/"], remote("blob.bin", content), tmp_path / "dst")
    assert out.read_bytes() == content
    bad = RemoteFile("blob.bin", len(content), md5="0" * 32)
    with pytest.raises(DatasetCorruptError, match="MD5"):
        data.download_file([src.as_uri()], bad, tmp_path / "dst2")
    assert files_under(tmp_path / "dst2") == []


def test_cifar_download_extracts_and_reuses_cache(tmp_path, monkeypatch, server):
    batches = {f"data_batch_{i}": cifar_batch(2) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(3)
    archive = tar_gz({f"cifar-10-batches-py/{k}": v[2] for k, v in batches.items()})
    registry = {k: RemoteFile(k, None, hashlib.md5(v[2]).hexdigest()) for k, v in batches.items()}
    registry["cifar-10-python.tar.gz"] = remote("cifar-10-python.tar.gz", archive)
    monkeypatch.setitem(data.RESOURCES, "cifar10", registry)
    server.routes["/kriz/cifar-10-python.tar.gz"] = (archive, "ok")
    cache = tmp_path / "cache"
    kw = dict(cache_dir=cache, mirrors=[f"{server.url}/kriz/"], timeout=5)
    x, y = data.load_dataset("cifar10", split="train", **kw)
    want = np.concatenate([cifar_hwc(batches[f"data_batch_{i}"][0]) for i in range(1, 6)])
    np.testing.assert_array_equal(x, want)
    assert y.shape == (10,)
    assert server.hits == ["/kriz/cifar-10-python.tar.gz"]
    x_te, _ = data.load_dataset("cifar10", split="test", **kw)  # both splits came with the archive
    np.testing.assert_array_equal(x_te, cifar_hwc(batches["test_batch"][0]))
    assert server.hits == ["/kriz/cifar-10-python.tar.gz"]
    assert not [p for p in files_under(cache) if p.endswith(".part")]


def test_published_checksums_are_well_formed():
    # Values copied from torchvision / tensorflow_datasets / keras (see data.py): check their form.
    for name in data.DATASETS:
        for fname, r in data.RESOURCES[name].items():
            assert r.name == fname
            assert r.md5 is not None and len(r.md5) == 32 and int(r.md5, 16) >= 0
            assert r.sha256 is None or (len(r.sha256) == 64 and int(r.sha256, 16) >= 0)


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_dataset("imagenet", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("mnist", split="validation", data_dir=tmp_path)
    with pytest.raises(ValueError, match="min_points"):
        data.load_dataset("mnist", data_dir=tmp_path, min_points=0)


# -------------------------------------------------------------------------------------------------
# Preprocessing and sampling.


def test_preprocess_flatten_scale_center_normalize():
    images = RNG.integers(0, 256, size=(7, 4, 4, 3), dtype=np.uint8)
    flat = images.reshape(7, -1).astype(np.float64)  # C order: pixel-major, channels interleaved
    x = data.preprocess(images)
    assert x.shape == (7, 48) and x.dtype == jnp.float64  # x64 is on in the tests
    np.testing.assert_allclose(x, flat / 255, rtol=0, atol=1e-15)
    np.testing.assert_allclose(data.preprocess(images, scale=False), flat, rtol=0, atol=0)
    xc = np.asarray(data.preprocess(images, center=True))
    np.testing.assert_allclose(xc, flat / 255 - (flat / 255).mean(0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(xc.mean(0), 0, atol=1e-15)
    mean = np.full(48, 0.5)
    np.testing.assert_allclose(data.preprocess(images, center=mean), flat / 255 - 0.5, atol=1e-15)
    xs = np.asarray(data.preprocess(images, center=True, normalize="sphere"))
    np.testing.assert_allclose(np.linalg.norm(xs, axis=1), 1, rtol=1e-14)
    np.testing.assert_allclose(xs * np.linalg.norm(xc, axis=1, keepdims=True), xc, atol=1e-14)
    xd = np.asarray(data.preprocess(images, normalize="sqrt_dim"))
    np.testing.assert_allclose(np.linalg.norm(xd, axis=1), np.sqrt(48), rtol=1e-14)


def test_preprocess_dtype_and_errors():
    imgs32 = np.ones((3, 2, 2), np.float32)
    assert data.preprocess(imgs32).dtype == jnp.float32
    assert data.preprocess(imgs32, dtype=jnp.float64).dtype == jnp.float64
    with pytest.raises(ValueError, match="zero norm"):
        data.preprocess(np.zeros((2, 3, 3), np.uint8), normalize="sphere")
    with pytest.raises(ValueError, match="normalize"):
        data.preprocess(imgs32, normalize="l1")
    with pytest.raises(ValueError, match="center"):
        data.preprocess(imgs32, center=np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        data.preprocess(np.ones(4))


def test_sample_points():
    x = np.arange(50 * 3).reshape(50, 3)
    key = jax.random.key(3)
    sub = data.sample_points(key, x, 20)
    assert isinstance(sub, np.ndarray) and sub.shape == (20, 3)
    rows = sub[:, 0] // 3
    assert len(np.unique(rows)) == 20  # without replacement
    np.testing.assert_array_equal(sub, x[rows])  # actual rows of x
    idx = np.asarray(data.sample_indices(key, 50, 20))
    np.testing.assert_array_equal(sub, x[idx])  # same key, same points
    np.testing.assert_array_equal(data.sample_points(key, jnp.asarray(x), 20), x[idx])
    other = np.asarray(data.sample_indices(jax.random.key(4), 50, 20))
    assert not np.array_equal(idx, other)
    all_idx = np.asarray(data.sample_indices(key, 50, 50))
    np.testing.assert_array_equal(np.sort(all_idx), np.arange(50))
    with pytest.raises(ValueError, match="without replacement"):
        data.sample_indices(key, 5, 6)
