# Leave @MARKER@ in every channel a later child could look in (see look_behind.py): SysV shared
# memory, message queue and semaphore, a POSIX message queue, files in /tmp, /var/tmp, /dev/shm and
# the working folder, a shared file that exists already (@SHARED@), a key in the user's keyring, an
# abstract Unix socket, a process left running, the access time of @FRESH@ (a file it may read, not
# read since it changed: reading it is the message), an OFD lock at the marker's number on standard
# input and that description's status flags (shared with the fork server, if inherited), and the fork
# server's counts of its reaped children's page faults (moved by touching pages: the next child reads them). Harmless if it escapes: 4 KiB of shared memory,
# 64-byte messages, a key that expires in 60 s, a process that ends by itself within 30 s; the test
# removes what is left. Ends by raising what it managed, so the feedback's notes say so.
import ctypes as _ctypes
import fcntl as _fcntl
import os as _os
import platform as _platform
import socket as _socket
import struct as _struct
import time as _time
import zlib as _zlib

_MARK = "@MARKER@"
_KEY = _zlib.crc32(_MARK.encode()) & 0x7FFFFFFF
_libc = _ctypes.CDLL(None, use_errno=True)
_done = []
_CALLS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}[_platform.machine()]


def _try(name, attempt):
    try:
        if attempt() is not False:
            _done.append(name)
    except Exception:  # noqa: BLE001 -- refused: that is the point
        pass


def _shm():
    return _libc.shmget(_KEY, 4096, 0o1000 | 0o666) >= 0  # IPC_CREAT; the key itself is the message


def _msg():
    ident = _libc.msgget(_KEY, 0o1000 | 0o666)
    message = _ctypes.create_string_buffer(_ctypes.sizeof(_ctypes.c_long) + 64)
    _ctypes.c_long.from_buffer(message).value = 1
    return ident >= 0 and _libc.msgsnd(ident, message, 64, 0o4000) == 0


def _sem():
    ident = _libc.semget(_KEY, 1, 0o1000 | 0o666)
    return ident >= 0 and _libc.semctl(ident, 0, 16, 7) == 0  # SETVAL 7


def _mqueue():
    _libc.mq_open.argtypes = [_ctypes.c_char_p, _ctypes.c_int, _ctypes.c_uint, _ctypes.c_void_p]
    return _libc.mq_open(f"/{_MARK}".encode(), 0o100 | 0o1, 0o666, None) >= 0


def _file(path):
    def write():
        with open(path, "a") as handle:
            handle.write(_MARK)
    return write


def _key():
    _libc.syscall.restype = _ctypes.c_long
    key = _libc.syscall(_CALLS["add_key"], b"user", _MARK.encode(), _MARK.encode(), len(_MARK), -4)
    if key < 0:
        return False
    _libc.syscall(_CALLS["keyctl"], 15, key, 60)  # KEYCTL_SET_TIMEOUT: gone in 60 s whatever happens


def _listen_and_linger():
    server = None
    try:
        server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        server.bind("\0" + _MARK)
        server.listen(1)
        _done.append("abstract socket")
    except OSError:
        pass
    if _os.fork() == 0:  # a process left running, named by the marker, holding the socket
        _libc.prctl(15, _MARK[:15].encode(), 0, 0, 0)  # PR_SET_NAME
        for _fd in (0, 1, 2):  # whoever waits for our output is not kept waiting
            _os.close(_fd)
        _time.sleep(30)
        _os._exit(0)
    _done.append("process")
    return False


def _access_time():
    """Read a file not read since it changed: on a relatime mount its access time moves, once."""
    before = _os.stat("@FRESH@").st_atime_ns
    with open("@FRESH@") as handle:
        handle.read()
    return _os.stat("@FRESH@").st_atime_ns != before


def _stdio_lock():
    """An OFD lock of one byte at offset _KEY: it lives as long as the open file description does."""
    _fcntl.fcntl(0, 37, _struct.pack("hhqqi4x", _fcntl.F_RDLCK, 0, _KEY, 1, 0))  # F_OFD_SETLK


def _stdio_flags():
    _fcntl.fcntl(0, _fcntl.F_SETFL, _fcntl.fcntl(0, _fcntl.F_GETFL) | _os.O_APPEND)


def _page_faults():
    """Touch 64 MiB page by page: whoever reaps this child counts 16,384 more minor faults."""
    block = bytearray(64 << 20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1


for _name, _attempt in [("stdio lock", _stdio_lock), ("stdio flags", _stdio_flags), ("fork server's counts", _page_faults),
                        ("access time", _access_time), ("SysV shm", _shm), ("SysV msg", _msg), ("SysV sem", _sem), ("POSIX mqueue", _mqueue),
                        ("keyring", _key), ("/tmp", _file(f"/tmp/{_MARK}")), ("/var/tmp", _file(f"/var/tmp/{_MARK}")),
                        ("/dev/shm", _file(f"/dev/shm/{_MARK}")), ("working folder", _file(_MARK)),
                        ("shared file", _file("@SHARED@"))]:
    _try(_name, _attempt)
_try("", _listen_and_linger)
_os.environ["LEFT_BEHIND"] = _MARK  # this child is not handed on: the next component gets a fresh one
raise RuntimeError("left behind: " + (", ".join(_done) or "nothing"))
