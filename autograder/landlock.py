"""Landlock (Linux 5.13+): an unprivileged file-system, TCP and signal fence for the worker.

The process level has no namespaces, so without this a submission could read anything its user
can read (solutions/, other submissions, the results store), connect to the network and signal
the grader. Landlock needs no root and no namespaces: a process restricts itself and everything it
starts afterwards, for good.

Written against the kernel ABI (three system calls) rather than the `landlock` package on PyPI,
which is an alpha release that covers file-system rules only; the TCP rules (ABI 4) and the signal
scope (ABI 6) are what stop a submission from phoning out or killing the grader.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import stat
from collections.abc import Iterable

# system call numbers: the same on every architecture since Linux 5.13 (the unified table)
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

# file-system rights (include/uapi/linux/landlock.h) and the ABI that introduced each
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a rule on a file may carry
DEVICES = READ_FILE | WRITE_FILE | READ_DIR | TRUNCATE | IOCTL_DEV  # use existing devices (CUDA needs ioctl), create none


# how the worker reports a fence the kernel refused (an integrity finding); the grader then says so in the isolation line
FENCE_FAILED = "sandbox: the Landlock fence could not be applied"


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockUnavailable(OSError):
    """The kernel cannot apply the fence (the message says why)."""


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _call(libc, number: int, *args) -> int:
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


@functools.lru_cache(maxsize=1)
def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    if platform.system() != "Linux":
        return 0
    try:
        return _call(_libc(), _CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0


def handled_rights(abi: int) -> tuple[int, int, int]:
    """(file-system rights, network rights, scopes) that ABI `abi` can restrict."""
    fs = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    fs |= REFER if abi >= 2 else 0
    fs |= TRUNCATE if abi >= 3 else 0
    fs |= IOCTL_DEV if abi >= 5 else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scoped


def describe(abi: int | None = None) -> str:
    """What the fence covers on this kernel, for the isolation statement."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        return ""
    parts = ["files"] + (["TCP"] if abi >= 4 else []) + (["signals"] if abi >= 6 else [])
    return f"Landlock ABI {abi}: " + ", ".join(parts)


def restrict_self(read: Iterable[str], write: Iterable[str], devices: Iterable[str] = ()) -> int:
    """Fence this process and its future children: read-only `read`, full access to `write`, use `devices`.

    Everything else in the file system is refused (EACCES), as are TCP bind/connect and signals
    to processes outside the fence, where the kernel's ABI covers them. Paths that do not exist
    are skipped. Call it while the process has one thread: Landlock binds the calling thread.
    Returns the ABI used. Raises LandlockUnavailable when the kernel has no Landlock.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailable("this kernel has no Landlock (Linux 5.13+ with landlock in the LSM list)")
    fs, net, scoped = handled_rights(abi)
    libc = _libc()
    attr = _RulesetAttr(fs, net, scoped)
    size = ctypes.sizeof(attr) if abi >= 6 else (16 if abi >= 4 else 8)  # older kernels refuse fields they lack
    ruleset = _call(libc, _CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((read, READ), (devices, DEVICES), (write, fs)):
            for path in paths:
                _allow(libc, ruleset, path, rights & fs)
        # no TCP port rules: with the network rights handled, every bind and connect is refused
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)):
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _call(libc, _RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _allow(libc, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine lacks
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        _call(libc, _ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


__all__ = ["FENCE_FAILED", "LandlockUnavailable", "abi_version", "describe", "handled_rights", "restrict_self"]
