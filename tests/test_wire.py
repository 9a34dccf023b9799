"""The wire carries plain data only, exactly, and refuses everything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import expect, wire

plain_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
arrays = hnp.arrays(st.sampled_from(["float32", "float64", "int64", "uint8", "bool"]), hnp.array_shapes(max_dims=3, max_side=4))
values = st.recursive(plain_scalars | arrays, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


def roundtrip(value):
    header, buffers = wire.message({"id": 1}, value, with_value=True)
    header2, buffers2 = wire.unpack(wire.pack(header, buffers))
    return wire.decode(header2["value"], buffers2)


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None)
@given(values)
def test_plain_values_roundtrip_exactly(value):
    assert same(value, roundtrip(value))


class FloatPoser(float):
    def __eq__(self, other):
        return True


class ArraySubclass(np.ndarray):
    pass


@pytest.mark.parametrize("value, type_name", [
    (FloatPoser(1.0), "FloatPoser"),
    (np.zeros(3).view(ArraySubclass), "ArraySubclass"),
    (np.array([object()]), "dtype object"),
    ({1: 2}, "non-string keys"),
    (lambda: 1, "function"),
])
def test_live_objects_arrive_as_unsupported(value, type_name):
    got = roundtrip(value)
    assert isinstance(got, wire.Unsupported) and type_name in got.type_name
    with pytest.raises(expect.BadReply, match="expected a float"):
        expect.Float().check(got, "f")


def test_torch_tensors_cross_as_arrays():
    import torch

    assert same(roundtrip(torch.arange(6.0).reshape(2, 3)), np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert roundtrip(torch.tensor(2.5)) == 2.5


def test_forged_messages_are_rejected():
    header, buffers = wire.message({"id": 1}, np.zeros(4), with_value=True)
    header["value"]["shape"] = [1000]  # claims more bytes than sent
    with pytest.raises(wire.WireError, match="shape needs"):
        wire.decode(header["value"], buffers)
    with pytest.raises(wire.WireError):
        wire.decode({"t": "array", "i": 0, "dtype": "object", "shape": [1]}, [b"x"])
    with pytest.raises(wire.WireError):
        wire.unpack(b"\x00" * 8 + b"garbage")


@pytest.mark.parametrize("spec, value, message", [
    (expect.Float(), float("nan"), "expected a finite float"),
    (expect.Array((3,), "float"), np.zeros(4), "expected a float array of shape (3,)"),
    (expect.Array((None,), "int"), np.zeros(2), "expected a int array"),
    (expect.Array((2,), "float"), np.array([1.0, np.inf]), "non-finite"),
    (expect.Tuple(expect.Float(), expect.Float()), [1.0], "a tuple of 2 items"),
    (expect.Dict({"a": expect.Float()}), {"b": 1.0}, "missing ['a']"),
])
def test_specs_reject_wrong_replies_with_one_line(spec, value, message):
    with pytest.raises(expect.BadReply) as info:
        spec.check(value, "fn")
    assert message in str(info.value) and "\n" not in str(info.value)
