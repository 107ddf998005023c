# Become root in a user namespace of our own (clone with CLONE_NEWUSER: clone itself is allowed), then
# use that root to mount a tmpfs or change the hostname -- a file system or name a later child could see.
import ctypes as _ctypes
import os as _os
import platform as _platform

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = _ctypes.c_long
_CLONE = {"x86_64": 56, "aarch64": 220}[_platform.machine()]
_CLONE_NEWUSER, _CLONE_NEWNS, _SIGCHLD = 0x10000000, 0x00020000, 17
_gained = []
for _flags in (_CLONE_NEWUSER, _CLONE_NEWUSER | _CLONE_NEWNS):
    _read, _write = _os.pipe()
    _pid = _libc.syscall(_CLONE, _flags | _SIGCHLD, 0, 0, 0, 0)
    if _pid == 0:
        _done = []
        if _libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0:
            _done.append("mount")
        if _libc.sethostname(b"hostile", 7) == 0:
            _done.append("hostname")
        if _libc.unshare(0x08000000) == 0:  # CLONE_NEWIPC
            _done.append("unshare")
        _os.write(_write, ",".join(_done).encode())
        _os._exit(0)
    _os.close(_write)
    if _pid > 0:
        _os.waitpid(_pid, 0)
        _said = _os.read(_read, 100).decode()
        if _said:
            _gained.append(_said)
    _os.close(_read)
raise RuntimeError(f"gained {'; '.join(_gained)}" if _gained else "no namespace gained")
