# Become root in a user namespace of our own (clone with CLONE_NEWUSER: clone is allowed, its namespace flags
# are not), then use that root to mount a tmpfs or change the hostname -- a file system or name a later child
# could see. What was gained comes back in the exit status (pipes are refused too).
import ctypes as _ctypes
import os as _os
import platform as _platform

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = _ctypes.c_long
_CLONE = {"x86_64": 56, "aarch64": 220}[_platform.machine()]
_CLONE_NEWUSER, _CLONE_NEWNS, _SIGCHLD = 0x10000000, 0x00020000, 17
_WAYS = {1: "mount", 2: "hostname", 4: "unshare"}
_gained = []
for _flags in (_CLONE_NEWUSER, _CLONE_NEWUSER | _CLONE_NEWNS):
    _pid = _libc.syscall(_CLONE, _flags | _SIGCHLD, 0, 0, 0, 0)
    if _pid == 0:
        _done = 0
        if _libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0:
            _done |= 1
        if _libc.sethostname(b"hostile", 7) == 0:
            _done |= 2
        if _libc.unshare(0x08000000) == 0:  # CLONE_NEWIPC
            _done |= 4
        _os._exit(_done)
    if _pid > 0:
        _code = _os.waitstatus_to_exitcode(_os.waitpid(_pid, 0)[1])
        _said = ",".join(way for bit, way in _WAYS.items() if _code > 0 and _code & bit)
        if _said:
            _gained.append(_said)
raise RuntimeError(f"gained {'; '.join(_gained)}" if _gained else "no namespace gained")
