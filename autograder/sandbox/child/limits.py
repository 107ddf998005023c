"""What a child may do, set once after the fork: rlimits, a seccomp filter, prctl flags; and the
zygote's memory collapsed into huge pages so that forking it is cheap."""
import resource


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 38, 36
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def _prctl(option: int, arg2=0) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


CPU_GRACE_S = 2  # between SIGXCPU (soft limit) and SIGKILL (hard), for code that catches SIGXCPU
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


# Per machine: the audit arch, the calls refused outright (sockets; io_uring, which can open both;
# every call that makes a file, directory, node or link; openat2, whose flags we cannot see), and the
# calls that create a file only with O_CREAT or O_TMPFILE in their flags (call -> flags argument).
SECCOMP_TABLES = {
    "x86_64": (0xC000003E, {41: "socket", 425: "io_uring_setup", 85: "creat", 83: "mkdir", 258: "mkdirat",
                            133: "mknod", 259: "mknodat", 88: "symlink", 266: "symlinkat", 86: "link",
                            265: "linkat", 437: "openat2"},
               {2: 1, 257: 2}),  # open(path, flags), openat(dirfd, path, flags)
    "aarch64": (0xC00000B7, {198: "socket", 425: "io_uring_setup", 34: "mkdirat", 33: "mknodat",
                             36: "symlinkat", 37: "linkat", 437: "openat2"},
                {56: 2}),  # openat(dirfd, path, flags)
}
O_CREAT, O_TMPFILE = 0o100, 0o20000000


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jump if true, jump if false, k) instructions; jumps count those skipped."""
    import errno

    arch, refused, creating = SECCOMP_TABLES[machine]
    LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EACCES
    # written with labels, then resolved: ("jump", code, k, label if true, label if false)
    code = [("op", LD_ABS, 4), ("jump", JEQ, arch, None, "deny"),  # another ABI (i386, x32): refused
            ("op", LD_ABS, 0), ("jump", JGE, 0x40000000, "deny", None)]
    code += [("jump", JEQ, number, "deny", None) for number in sorted(refused)]
    code += [("jump", JEQ, number, f"flags{argument}", None) for number, argument in sorted(creating.items())]
    code += [("ret", ALLOW)]
    for argument in sorted(set(creating.values())):  # the low 32 bits of args[argument] hold the flags
        code += [("label", f"flags{argument}"), ("op", LD_ABS, 16 + 8 * argument),
                 ("jump", JSET, O_CREAT | O_TMPFILE, "deny", None), ("ret", ALLOW)]
    code += [("label", "deny"), ("ret", DENY)]  # BPF jumps only forward: the refusal comes last
    positions, index = {}, 0
    for item in code:
        if item[0] == "label":
            positions[item[1]] = index
        else:
            index += 1
    program, index = [], 0
    for item in code:
        if item[0] == "label":
            continue
        if item[0] == "op":
            program.append((item[1], 0, 0, item[2]))
        elif item[0] == "ret":
            program.append((RET, 0, 0, item[1]))
        else:
            _, op, k, if_true, if_false = item
            hops = [0 if label is None else positions[label] - index - 1 for label in (if_true, if_false)]
            assert all(0 <= hop < 256 for hop in hops), hops
            program.append((op, hops[0], hops[1], k))
        index += 1
    return program


def refuse_sockets_and_files() -> None:
    """A seccomp filter: every later ``socket()`` fails, and so does every call that would make a file.

    The child's own socketpair already exists, and nothing a module needs opens a socket; so no
    network, no abstract Unix sockets, no loopback listeners -- also where bubblewrap is missing.
    Nothing a module needs writes a file either, so a child cannot leave files behind or flood a
    file system with millions of empty ones (``open``/``openat`` with O_CREAT or O_TMPFILE,
    ``creat``, ``mkdir``, ``mknod``, links all fail with EACCES). A system call from another ABI
    (x32, i386) is refused too, so it cannot dodge the numbers.
    """
    import ctypes
    import platform

    program = seccomp_program(platform.machine())

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
            # CPU: the soft limit sends SIGXCPU, which the parent can name; at an equal hard limit the
            # kernel would send SIGKILL instead, which reads like the memory limit.
            hard = int(value) + CPU_GRACE_S if limit == resource.RLIMIT_CPU else int(value)
            resource.setrlimit(limit, (int(value), hard))
