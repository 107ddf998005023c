# Look for what leave_behind.py left with the same @MARKER@, from a later child: the same channels,
# read only, and counters leave_behind.py could move (PIDs, /proc/stat). Ends by raising what it found, so the
# feedback's notes say so ("nothing" when sound).
import ctypes as _ctypes
import fcntl as _fcntl
import os as _os
import platform as _platform
import socket as _socket
import struct as _struct
import zlib as _zlib

_MARK = "@MARKER@"
_KEY = _zlib.crc32(_MARK.encode()) & 0x7FFFFFFF
_libc = _ctypes.CDLL(None, use_errno=True)
_found = []
_CALLS = {"x86_64": {"keyctl": 250}, "aarch64": {"keyctl": 219}}[_platform.machine()]


def _check(name, probe):
    try:
        if probe():
            _found.append(name)
    except Exception:  # noqa: BLE001 -- could not even look
        pass


def _mqueue():
    _libc.mq_open.argtypes = [_ctypes.c_char_p, _ctypes.c_int]
    return _libc.mq_open(f"/{_MARK}".encode(), 0) >= 0 or _os.path.exists(f"/dev/mqueue/{_MARK}")


def _key():
    _libc.syscall.restype = _ctypes.c_long
    return _libc.syscall(_CALLS["keyctl"], 10, -4, b"user", _MARK.encode(), 0) >= 0  # KEYCTL_SEARCH


def _socket_answers():
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    client.connect("\0" + _MARK)
    return True


def _process():
    for entry in _os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() == _MARK[:15]:
                    return True
        except OSError:
            pass
    return False


def _read_since_changed():
    info = _os.stat("@FRESH@")
    return info.st_atime_ns > info.st_mtime_ns


def _file(path):
    def read():
        with open(path) as handle:
            return _MARK in handle.read()
    return read


def _stdio_lock():
    """Someone holds a lock at _KEY on the file standard input is (a fresh description of our own asks)."""
    with open(f"/proc/self/fd/0", "rb") as handle:
        asked = _struct.pack("hhqqi4x", _fcntl.F_WRLCK, 0, _KEY, 1, 0)
        return _struct.unpack("hhqqi4x", _fcntl.fcntl(handle.fileno(), 36, asked))[0] != _fcntl.F_UNLCK  # F_OFD_GETLK


def _fork_server_counts():
    """Can we read the counts of whoever reaps us (its children's page faults, CPU time)?"""
    with open(f"/proc/{_os.getppid()}/stat") as handle:
        return len(handle.read().rsplit(")", 1)[1].split()) > 10


def _shared_pid_counter():
    """Is our PID a number others move? Anywhere but first in a PID namespace of our own, a child before
    us could have spent PIDs until ours spelled a message."""
    return _os.getpid() != 1


def _machine_wide_counters():
    """Can we read counters every process on the machine moves (forks, context switches, page faults)?"""
    with open("/proc/stat") as handle:
        return "processes" in handle.read()


for _name, _probe in [("PID counter", _shared_pid_counter), ("machine-wide counters", _machine_wide_counters),
                      ("stdio lock", _stdio_lock), ("stdio flags", lambda: _fcntl.fcntl(0, _fcntl.F_GETFL) & _os.O_APPEND),
                      ("fork server's counts", _fork_server_counts), ("SysV shm", lambda: _libc.shmget(_KEY, 0, 0) >= 0), ("SysV msg", lambda: _libc.msgget(_KEY, 0) >= 0),
                      ("SysV sem", lambda: _libc.semget(_KEY, 0, 0) >= 0), ("POSIX mqueue", _mqueue),
                      ("keyring", _key), ("abstract socket", _socket_answers), ("process", _process),
                      ("/tmp", _file(f"/tmp/{_MARK}")), ("/var/tmp", _file(f"/var/tmp/{_MARK}")),
                      ("/dev/shm", _file(f"/dev/shm/{_MARK}")), ("working folder", _file(_MARK)),
                      ("shared file", _file("@SHARED@")), ("access time", _read_since_changed)]:
    _check(_name, _probe)
raise RuntimeError("looked behind: " + (", ".join(_found) or "nothing"))
