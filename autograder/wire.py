"""The wire format between grader and worker: JSON plus raw array bytes, never pickle.

A message is: 8-byte big-endian header length, a UTF-8 JSON header, then for each array an
8-byte length and its raw bytes. Values are plain data only. Everything else the learner's code
returns is sent as a tag naming its type, so the grader can say what came back.

This module runs on both sides and must stay importable with only the standard library and NumPy.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time

import numpy as np

# dtypes that may cross; anything else (object, structured, datetime, ...) is refused
PLAIN_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
}
MAX_HEADER_BYTES = 16 * 2**20
MAX_MESSAGE_BYTES = 1 * 2**30
_LEN = struct.Struct(">Q")


class WireError(Exception):
    """The other side sent something that is not a valid message."""


class PeerTimeout(Exception):
    """No complete message arrived before the deadline."""


class PeerClosed(Exception):
    """The other side closed its end (it exited or was killed)."""


# ----------------------------------------------------------------------------- values
def _torch_tensor_type():
    import sys

    torch = sys.modules.get("torch")  # only if already imported: the grader never needs torch here
    return None if torch is None else torch.Tensor


def encode(value, buffers: list[bytes]):
    """Turn a value into JSON-able data, appending array bytes to `buffers`.

    Exact types only: a subclass of float, ndarray or dict is sent as "unsupported", so an
    object that poses as a number or overrides __eq__ cannot reach the grader's asserts.
    """
    t = type(value)
    if value is None or t in (bool, str):
        return value
    if t is int:
        return value if -(2**63) <= value < 2**64 else {"t": "unsupported", "type": "int (too large)"}
    if t is float:
        return value if np.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, np.generic) and type(value).__module__ == "numpy":
        if value.dtype.name not in PLAIN_DTYPES:
            return {"t": "unsupported", "type": f"numpy {value.dtype.name} scalar"}
        return encode(value.item(), buffers)
    tensor_type = _torch_tensor_type()
    if tensor_type is not None and t is tensor_type:
        return encode(value.detach().cpu().numpy(), buffers)  # re-checked: .numpy() may be patched
    if t is np.ndarray:
        if value.dtype.name not in PLAIN_DTYPES:
            return {"t": "unsupported", "type": f"ndarray of dtype {value.dtype}"}
        if value.ndim == 0:
            return encode(value.item(), buffers)
        data = np.ascontiguousarray(value)
        buffers.append(data.tobytes())
        return {"t": "array", "i": len(buffers) - 1, "dtype": data.dtype.name, "shape": list(data.shape)}
    if t in (list, tuple):
        return {"t": t.__name__, "v": [encode(v, buffers) for v in value]}
    if t is dict:
        if not all(type(k) is str for k in value):
            return {"t": "unsupported", "type": "dict with non-string keys"}
        return {"t": "dict", "v": {k: encode(v, buffers) for k, v in value.items()}}
    return {"t": "unsupported", "type": f"{t.__module__}.{t.__qualname__}"}


class Unsupported:
    """Stands for a value of a type that may not cross the wire."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = str(type_name)

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def decode(data, buffers: list[bytes]):
    """Inverse of `encode`, validating every tag; arrays are fresh, writable copies."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:  # plain JSON lists only appear inside tags
        raise WireError("untagged list in message")
    if type(data) is not dict or "t" not in data:
        raise WireError(f"malformed value {type(data).__name__}")
    tag = data["t"]
    if tag == "float":
        if data.get("v") not in ("nan", "inf", "-inf"):
            raise WireError("malformed non-finite float")
        return float(data["v"])
    if tag in ("list", "tuple"):
        items = [decode(v, buffers) for v in _field(data, "v", list)]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        return {str(k): decode(v, buffers) for k, v in _field(data, "v", dict).items()}
    if tag == "array":
        dtype = _field(data, "dtype", str)
        if dtype not in PLAIN_DTYPES:
            raise WireError(f"array dtype {dtype!r} is not allowed")
        shape = _field(data, "shape", list)
        if not all(type(n) is int and n >= 0 for n in shape):
            raise WireError("malformed array shape")
        index = _field(data, "i", int)
        if not 0 <= index < len(buffers):
            raise WireError("array buffer index out of range")
        raw = buffers[index]
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(raw) != expected:
            raise WireError(f"array buffer holds {len(raw)} bytes, its shape needs {expected}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if tag == "unsupported":
        return Unsupported(_field(data, "type", str))
    raise WireError(f"unknown tag {tag!r}")


def _field(data: dict, key: str, kind: type):
    value = data.get(key)
    if type(value) is not kind:
        raise WireError(f"field {key!r} must be {kind.__name__}")
    return value


# ----------------------------------------------------------------------------- framing
def pack(header: dict, buffers: list[bytes]) -> bytes:
    head = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    parts = [_LEN.pack(len(head)), head]
    for buf in buffers:
        parts += [_LEN.pack(len(buf)), buf]
    return b"".join(parts)


def send(fd: int, header: dict, buffers: list[bytes] | None = None, deadline: float | None = None) -> None:
    """Write one message; with a deadline, a peer that stops reading raises PeerTimeout."""
    view = memoryview(pack(header, buffers or []))
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise PeerTimeout()
        try:
            written = os.write(fd, view[: 1 << 16] if deadline is not None else view)
        except BlockingIOError:  # non-blocking descriptor with a full pipe: wait again
            written = 0
        except BrokenPipeError:
            raise PeerClosed() from None
        view = view[written:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerTimeout()
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise PeerTimeout()
        chunk = os.read(fd, min(n - got, 1 << 22))
        if not chunk:
            raise PeerClosed()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _parse(read) -> tuple[dict, list[bytes]]:
    (head_len,) = _LEN.unpack(read(8))
    if head_len > MAX_HEADER_BYTES:
        raise WireError(f"header of {head_len} bytes exceeds the limit")
    try:
        header = json.loads(read(head_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"header is not valid JSON: {exc}") from None
    if type(header) is not dict:
        raise WireError("header must be a JSON object")
    count = header.get("nbuf", 0)
    if type(count) is not int or not 0 <= count <= 100_000:
        raise WireError("bad buffer count")
    buffers, total = [], head_len
    for _ in range(count):
        (size,) = _LEN.unpack(read(8))
        total += size
        if total > MAX_MESSAGE_BYTES:
            raise WireError(f"message exceeds {MAX_MESSAGE_BYTES} bytes")
        buffers.append(read(size))
    return header, buffers


def receive(fd: int, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """Read one message from a descriptor: (header, buffers). Sizes are bounded before reading."""
    return _parse(lambda n: _read_exact(fd, n, deadline))


def unpack(data: bytes) -> tuple[dict, list[bytes]]:
    """Parse one message held in memory (the in-process mode's path through the wire)."""
    stream = io.BytesIO(data)

    def read(n: int) -> bytes:
        chunk = stream.read(n)
        if len(chunk) != n:
            raise WireError("truncated message")
        return chunk

    return _parse(read)


def message(header: dict, value=None, *, with_value: bool = False) -> tuple[dict, list[bytes]]:
    """Build (header, buffers) carrying `value` under header["value"] when asked."""
    buffers: list[bytes] = []
    header = dict(header)
    if with_value:
        header["value"] = encode(value, buffers)
    header["nbuf"] = len(buffers)
    return header, buffers
