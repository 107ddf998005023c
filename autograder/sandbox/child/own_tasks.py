"""What a child learns of itself without /proc: its threads, its other processes, its address space.

Where the child is the first process of a PID namespace of its own (``limits.enter_own_namespaces``), it
has no /proc at all: every entry a procfs makes for a process takes its inode number from a counter of
the whole host (``get_next_ino``), which one child moves by making entries (threads' ``fd`` folders) and
a later child reads in ``stat`` -- measured by the red team: 8 bits from one student's child to the next
student's, every try. So the audit asks the kernel in other ways: a signal 0 to each task number the
namespace may have given out (``tgkill``, allowed), and the largest mapping that still fits under the
address-space limit.
"""
import ctypes
import platform
import resource
import threading

from .limits import SYSCALL_NUMBERS

MOST_TASK_NUMBERS = 4096  # past this many numbers given out, the count is "unknown": the child is not handed over
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_TGKILL = SYSCALL_NUMBERS[platform.machine()]["tgkill"]
_OWN = 1  # the first process of its PID namespace


def _exists(process: int, task: int) -> bool:
    return _libc.syscall(_TGKILL, process, task, 0) == 0


def _numbers_given_out() -> int:
    """The task number the namespace gives out next: that of a thread started now, which is not counted
    (it may still be ending after ``join``). Numbers are given in turn; wrapping needs millions."""
    found = []
    probe = threading.Thread(target=lambda: found.append(threading.get_native_id()))
    probe.start()
    probe.join()
    return found[0]


def tasks() -> tuple[int, int] | None:
    """(this process's threads, the other processes of its namespace); None past ``MOST_TASK_NUMBERS``."""
    bound = _numbers_given_out()
    if bound > MOST_TASK_NUMBERS:
        return None
    numbers = range(2, bound)
    threads = 1 + sum(_exists(_OWN, number) for number in numbers)
    processes = sum(_exists(number, number) for number in numbers)  # a process's first thread has its number
    return threads, processes


MIB = 1 << 20
_PROT_NONE, _MAP_PRIVATE, _MAP_ANONYMOUS, _MAP_NORESERVE = 0, 0x02, 0x20, 0x4000
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _fits(size: int) -> bool:
    address = _libc.mmap(None, size, _PROT_NONE, _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
    if address in (None, _MAP_FAILED):
        return False
    _libc.munmap(address, size)
    return True


def address_space_bytes() -> int:
    """The process's address space to within a MiB: its limit (RLIMIT_AS) less the largest mapping that
    still fits, found by halving (inaccessible mappings, never touched); 0 without a limit."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return 0
    fits, fails = 0, limit
    while fails - fits > MIB:
        middle = (fits + fails) // 2 // MIB * MIB or MIB
        if middle <= fits:
            break
        if _fits(middle):
            fits = middle
        else:
            fails = middle
    return limit - fits
