"""Specs for what a learner's function must return, checked before any assert sees the value.

A check says `student.call("metrics.roc_auc", y, s, returns=Float())`; a reply of the wrong type,
dtype or shape, or a NaN where a finite number is due, fails the check with one line that says
what came back and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autograder.wire import Unsupported


class BadReply(AssertionError):
    """The learner's value does not have the promised type, dtype, shape or finiteness."""


def describe(value) -> str:
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    return f"a {type(value).__name__}" if not isinstance(value, (bool, int, float)) else f"{type(value).__name__} {value!r}"


class Spec:
    def check(self, value, what: str):
        raise NotImplementedError

    def fail(self, value, what: str, expected: str):
        raise BadReply(f"{what} returned {describe(value)}, expected {expected}")


class Any(Spec):
    """Any plain value (still never a live object)."""

    def check(self, value, what):
        if isinstance(value, Unsupported):
            self.fail(value, what, "plain data")
        return value


class Float(Spec):
    def __init__(self, finite: bool = True):
        self.finite = finite

    def check(self, value, what):
        if type(value) is int:  # an int is an acceptable float (accuracy 1 == 1.0)
            value = float(value)
        if type(value) is not float:
            self.fail(value, what, "a float")
        if self.finite and not np.isfinite(value):
            self.fail(value, what, "a finite float")
        return value


class Int(Spec):
    def check(self, value, what):
        if type(value) is not int:
            self.fail(value, what, "an int")
        return value


class Bool(Spec):
    def check(self, value, what):
        if type(value) is not bool:
            self.fail(value, what, "a bool")
        return value


class Str(Spec):
    def check(self, value, what):
        if type(value) is not str:
            self.fail(value, what, "a str")
        return value


_KINDS = {"float": "f", "int": "iu", "bool": "b", "number": "biuf"}


class Array(Spec):
    """An ndarray with the given shape (None = any size on that axis) and dtype kind."""

    def __init__(self, shape: Sequence[int | None] | None = None, dtype: str = "number", finite: bool = True):
        if dtype not in _KINDS:
            raise ValueError(f"dtype must be one of {list(_KINDS)}, got {dtype!r}")
        self.shape, self.dtype, self.finite = shape, dtype, finite

    def check(self, value, what):
        want = f"a {self.dtype} array" + (f" of shape {tuple(self.shape)}" if self.shape is not None else "")
        if type(value) is not np.ndarray or value.dtype.kind not in _KINDS[self.dtype]:
            self.fail(value, what, want)
        if self.shape is not None and (
            value.ndim != len(self.shape) or any(w is not None and w != n for w, n in zip(self.shape, value.shape))
        ):
            self.fail(value, what, want)
        if self.finite and value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise BadReply(f"{what} returned {bad} non-finite value(s) (NaN or inf) in {describe(value)}")
        return value


class Tuple(Spec):
    """A tuple or list of fixed length, each item with its own spec."""

    def __init__(self, *items: Spec):
        self.items = items

    def check(self, value, what):
        if type(value) not in (tuple, list) or len(value) != len(self.items):
            self.fail(value, what, f"a tuple of {len(self.items)} items")
        return tuple(spec.check(v, f"{what}[{i}]") for i, (spec, v) in enumerate(zip(self.items, value)))


class List(Spec):
    def __init__(self, item: Spec, length: int | None = None):
        self.item, self.length = item, length

    def check(self, value, what):
        if type(value) not in (tuple, list) or (self.length is not None and len(value) != self.length):
            self.fail(value, what, "a list" + (f" of length {self.length}" if self.length is not None else ""))
        return [self.item.check(v, f"{what}[{i}]") for i, v in enumerate(value)]


class Dict(Spec):
    """A dict with exactly these keys (or at least them when extra=True)."""

    def __init__(self, fields: dict[str, Spec], extra: bool = False):
        self.fields, self.extra = fields, extra

    def check(self, value, what):
        if type(value) is not dict:
            self.fail(value, what, f"a dict with keys {sorted(self.fields)}")
        missing = sorted(set(self.fields) - set(value))
        unexpected = sorted(set(value) - set(self.fields))
        if missing or (unexpected and not self.extra):
            detail = (f"missing {missing}" if missing else "") + (f" unexpected {unexpected}" if unexpected and not self.extra else "")
            raise BadReply(f"{what} returned a dict with wrong keys ({detail.strip()}), expected {sorted(self.fields)}")
        out = dict(value)
        for key, spec in self.fields.items():
            out[key] = spec.check(value[key], f"{what}[{key!r}]")
        return out


class Optional(Spec):
    def __init__(self, spec: Spec):
        self.spec = spec

    def check(self, value, what):
        return None if value is None else self.spec.check(value, what)
