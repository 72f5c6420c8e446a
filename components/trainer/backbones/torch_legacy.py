"""Read a legacy-format (pre-1.6, non-zip) PyTorch `state_dict` file into numpy, without torch.

Why our own reader: the EfficientNet-Lite0 package ships its weights in this format, and the
only library that reads it is torch itself (a ~2 GB install the project does not otherwise
need). The format is small and fixed (torch/serialization.py `_legacy_load`): four pickles
(magic number, protocol version, system info, the object with tensors as persistent ids),
a pickled list of storage keys, then for each storage an int64 element count and its raw
little-endian bytes. Tensors are (storage, offset, size, stride) views, some permuted.
"""

from __future__ import annotations

import collections
import pickle
import struct
from typing import Any, BinaryIO

import numpy as np

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchFormatError(ValueError):
    """The file is not a legacy torch state_dict this reader understands; says which part."""


class _StorageType:
    def __init__(self, name: str):
        if name not in _STORAGE_DTYPES:
            raise TorchFormatError(f"unsupported storage type torch.{name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    def __init__(self, storage_key: str, offset: int, size: tuple, stride: tuple):
        self.storage_key, self.offset, self.size, self.stride = storage_key, offset, size, stride


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _StorageType]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise TorchFormatError(f"unexpected object {module}.{name} in the pickle")

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, _size, view = saved_id[:6]
        if kind != "storage" or view is not None:
            raise TorchFormatError(f"unsupported persistent id {saved_id[:2]} (storage views)")
        self._storages[key] = storage_type
        return key


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """name -> numpy array (a copy, C-contiguous) for every tensor in the file."""
    with open(path, "rb") as f:
        try:
            if pickle.load(f) != _MAGIC_NUMBER:
                raise TorchFormatError(f"{path}: not a legacy torch file (wrong magic number)")
            pickle.load(f)  # protocol version
            system = pickle.load(f)
            if not system.get("little_endian", True):
                raise TorchFormatError(f"{path}: big-endian torch files are not supported")
            storage_types: dict[str, _StorageType] = {}
            refs = _Unpickler(f, storage_types).load()
            keys = pickle.load(f)
            data = {}
            for key in keys:
                (count,) = struct.unpack("<q", f.read(8))
                dtype = storage_types[key].dtype
                raw = f.read(count * dtype.itemsize)
                if len(raw) != count * dtype.itemsize:
                    raise TorchFormatError(f"{path}: storage {key} is truncated")
                data[key] = np.frombuffer(raw, dtype=dtype)
        except (pickle.UnpicklingError, EOFError, struct.error) as e:
            raise TorchFormatError(f"{path}: cannot read it as a legacy torch file: {e}") from e
    return {name: _materialize(ref, data, path, name) for name, ref in refs.items()}


def _materialize(ref: _TensorRef, data: dict[str, np.ndarray], path: str, name: str):
    if not isinstance(ref, _TensorRef):
        raise TorchFormatError(f"{path}: entry {name!r} is not a tensor")
    storage = data[ref.storage_key]
    itemsize = storage.dtype.itemsize
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if ref.size and last >= len(storage):
        raise TorchFormatError(f"{path}: tensor {name!r} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :], shape=ref.size, strides=[s * itemsize for s in ref.stride]
    )
    return np.ascontiguousarray(view)
