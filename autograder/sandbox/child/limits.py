"""What a child may do, set once after the fork: rlimits, a seccomp filter, prctl flags; and the
zygote's memory collapsed into huge pages so that forking it is cheap."""
import resource


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 38, 36
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
# audit arch, socket(), io_uring_setup() (io_uring can create sockets too) per machine
SECCOMP_SYSCALLS = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}


def _prctl(option: int, arg2=0) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE_PAGE = 2 << 20


def collapse_into_huge_pages() -> int:
    """Back the zygote's anonymous memory with 2 MiB pages; return how many bytes were collapsed.

    ``import torch`` leaves ~180 MB of anonymous memory (C++ registrations, Python objects), and
    ``fork`` copies one page-table entry per 4 KiB of it, then ``exit`` tears them down: 12 ms a
    child here. In huge pages that is 512 times fewer entries: 4 ms. A child's write still copies
    only the 4 KiB it touches (the kernel splits a shared huge page on copy-on-write). Best effort:
    ``MADV_COLLAPSE`` needs Linux 6.1 and transparent huge pages not set to "never".
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapsed = 0
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for fields in regions:
        anonymous = len(fields) == 5 or fields[5] == "[heap]"
        if not anonymous or not fields[1].startswith("rw"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-start // HUGE_PAGE) * HUGE_PAGE, end // HUGE_PAGE * HUGE_PAGE
        if end > start and libc.madvise(start, end - start, MADV_HUGEPAGE) == 0 \
                and libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            collapsed += end - start
    return collapsed


def refuse_sockets() -> None:
    """A seccomp filter: every later ``socket()`` (and io_uring) fails with EACCES.

    The child's own socketpair already exists, and nothing else a module needs opens a socket; so
    no network, no abstract Unix sockets, no loopback listeners -- also where bubblewrap is missing.
    A system call from another ABI (x32, i386) is refused too, so it cannot dodge the numbers.
    """
    import ctypes
    import errno
    import platform

    arch, nr_socket, nr_io_uring = SECCOMP_SYSCALLS[platform.machine()]
    LD_ABS, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EACCES
    program = [  # (code, jump if true, jump if false, k); jumps count instructions skipped
        (LD_ABS, 0, 0, 4),            # 0: arch
        (JEQ, 1, 0, arch),            # 1: our ABI -> 3
        (RET, 0, 0, DENY),            # 2
        (LD_ABS, 0, 0, 0),            # 3: system call number
        (JGE, 3, 0, 0x40000000),      # 4: x32 numbers -> 8
        (JEQ, 2, 0, nr_socket),       # 5: -> 8
        (JEQ, 1, 0, nr_io_uring),     # 6: -> 8
        (RET, 0, 0, ALLOW),           # 7
        (RET, 0, 0, DENY),            # 8
    ]

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Instruction))]

    instructions = (Instruction * len(program))(*program)
    fprog = Program(len(program), instructions)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


def apply_limits(limits: dict) -> None:
    """rlimits for this child and everything it starts; the parent also enforces wall time."""
    table = {
        "cpu_s": resource.RLIMIT_CPU,
        "address_space_bytes": resource.RLIMIT_AS,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, limit in table.items():
        value = limits.get(key)
        if value is not None:
            resource.setrlimit(limit, (int(value), int(value)))
