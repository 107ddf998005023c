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


# What a child may do, deny by default: a call not named here fails with ENOSYS (C libraries then
# fall back, as from clone3 to clone). MEASURED: every call that children made once this filter was
# on, while grading the reference, the classroom's layouts (notebooks, one file, numpy and
# matplotlib, a hang), mutants, equivalents and the chapter's code under strace
# (``benchmarks/child_syscalls.py``: 29 children, 27 submissions), most frequent first -- the filter
# tries them in order. RUNTIME: what the C library and CPython need on paths those gradings did not
# take (memory growth, clocks and sleeps, threads, signals, identity, read-only file inspection, a
# process the student starts -- killed by the reaper; no exec). Absent on purpose: every way to leave
# something for a later child -- SysV IPC (shm*, msg*, sem*), POSIX message queues, keyrings
# (add_key, keyctl), sockets, files (see WRITE_FLAGS) -- every machine-wide counter another child
# can move (sysinfo: its sharedram counts every shared mapping on the host, 13 bits a read between two
# children, red team) -- and namespaces (no unshare or setns, no clone flag that makes one), mounts,
# ptrace, process_vm_*, bpf, io_uring, userfaultfd, memfd, shared anonymous mappings, pidfds, kill, and
# pipes: a pipe's inode number comes from the host's per-CPU counter of such inodes (get_next_ino), which a
# child moves by making pipes and a later child reads in fstat (red team: ~2 bits a hand-over, both modes).
MEASURED = ("recvfrom", "sendto", "newfstatat", "read", "brk", "close", "lseek", "getdents64", "getitimer",
            "getcwd", "getrusage", "futex", "mmap", "exit_group", "write")  # and read-only openat (OPENING), ioctl (IOCTLS)
RUNTIME = (
    "munmap", "mremap", "mprotect",  # and madvise, with the advice in ADVICE
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "sched_yield",
    "clone", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "gettid", "tgkill", "sched_getaffinity",
    "exit", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "setitimer",
    "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "uname", "getrandom", "getrlimit",
    "readv", "pread64", "fstat", "stat", "lstat", "statx", "readlink", "readlinkat", "access", "faccessat",
    "faccessat2", "dup", "dup2", "dup3", "writev", "sendmsg", "recvmsg", "poll", "ppoll",
    "select", "pselect6", "fork", "vfork", "wait4", "waitid",
)
ALLOWED = MEASURED + RUNTIME
# ioctl only with these requests (the same numbers on x86_64 and aarch64), others fail with ENOTTY: what
# CPython asks of a descriptor (is it a terminal, its size, bytes waiting, blocking, close-on-exec).
# Not, for instance, FS_IOC_SETFLAGS: with a read-only descriptor of a file it owns (the fallback mode
# without root: every file of the grader's), a child could set inode flags a later child reads back.
# Where a GPU is lent (``any_ioctl``), every request goes through: its driver speaks only ioctl.
IOCTLS = {"TCGETS": 0x5401, "TIOCGPGRP": 0x540F, "TIOCGWINSZ": 0x5413, "FIONREAD": 0x541B, "FIONBIO": 0x5421,
          "FIONCLEX": 0x5450, "FIOCLEX": 0x5451, "TCGETS2": 0x802C542A}
ENOTTY = 25
# fcntl only with these commands (dup, close-on-exec, status flags), others refused with EACCES: no
# lock of any kind, lease, notification or owner. A lock on any file a child may read -- the same inode
# for every child on the host -- is a number another child, of another worker, reads while both run
# (measured: a student's child read a lock another student's child held, in a batch of two workers).
FCNTLS = {"F_DUPFD": 0, "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "F_DUPFD_CLOEXEC": 1030}
# Allowed only on the calling process itself (first argument 0): on another process of the same uid --
# the fork server, when the grader is not root -- lowering a hard limit would cripple every later child.
SELF_ONLY = ("prlimit64",)
# madvise only with the advice allocators and runtimes give (deny by default; others fail with EINVAL,
# as on a kernel without them, and callers fall back): normal, random, sequential, willneed, dontneed,
# dontfork/dofork, (no)hugepage, dontdump/dodump, wipeonfork/keeponfork. Not MADV_COLD/PAGEOUT, which
# throw a file's pages out of the host's page cache, shared by every child (a page read or evicted at
# will is a bit a later child times); not MADV_FREE, POPULATE_*, MERGEABLE or COLLAPSE, which move
# machine-wide counters a later child reads (measured: /proc/vmstat's pglazyfree, set to a 12-bit
# message in 1-2 s). fadvise64 is left out for its POSIX_FADV_DONTNEED (README "Security model").
ADVICE = (0, 1, 2, 3, 4, 10, 11, 14, 15, 16, 17, 18, 19)
EINVAL = 22
# Refused with EACCES rather than ENOSYS, as before the allow-list: a student who opens a socket or
# makes a file reads "Permission denied", which says what happened.
REFUSED = ("socket", "socketpair", "pipe", "pipe2", "creat", "mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat", "link",
           "linkat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "truncate", "openat2",
           "io_uring_setup")
# open/openat are allowed to read only: these flags (write access, create, truncate, append, an
# unnamed temporary file) are refused, so a child can neither make a file nor change one that exists.
O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_TMPFILE = 0o1, 0o2, 0o100, 0o1000, 0o2000, 0o20000000
WRITE_FLAGS = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE
OPENING = {"open": 1, "openat": 2}  # call -> which argument holds the flags
MAP_SHARED, MAP_ANONYMOUS = 0x01, 0x20  # (MAP_SHARED_VALIDATE, 0x03, holds MAP_SHARED's bit)
# clone's flags refused: those that make a namespace (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET), and PIDFD: a pidfd's inode number comes from one counter of the whole host that every process
# and thread created moves (Linux 6.9+, red team: 5 bits from one student's child to a later one's)
CLONE_PIDFD = 0x00001000
CLONE_REFUSED = CLONE_PIDFD | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# Per machine: the audit arch and the call numbers (Linux's asm/unistd_64.h, and asm-generic/unistd.h
# for aarch64, which has no open, stat or other legacy calls: names missing there are skipped).
SECCOMP_ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SYSCALL_NUMBERS = {
    "x86_64": {
        "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7, "lseek": 8,
        "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14,
        "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "readv": 19, "writev": 20, "access": 21, "pipe": 22,
        "select": 23, "sched_yield": 24, "mremap": 25, "madvise": 28, "dup": 32, "dup2": 33, "nanosleep": 35,
        "getitimer": 36, "setitimer": 38, "getpid": 39, "socket": 41, "sendto": 44, "recvfrom": 45,
        "sendmsg": 46, "recvmsg": 47, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58, "exit": 60,
        "wait4": 61, "uname": 63, "fcntl": 72, "truncate": 76, "getcwd": 79, "rename": 82, "mkdir": 83,
        "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88, "readlink": 89, "gettimeofday": 96,
        "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "getuid": 102, "getgid": 104, "geteuid": 107,
        "getegid": 108, "getppid": 110, "sigaltstack": 131, "mknod": 133, "gettid": 186, "time": 201,
        "futex": 202, "sched_getaffinity": 204, "getdents64": 217, "set_tid_address": 218, "fadvise64": 221,
        "clock_gettime": 228, "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234,
        "waitid": 247, "openat": 257, "mkdirat": 258, "mknodat": 259, "newfstatat": 262, "unlinkat": 263,
        "renameat": 264, "linkat": 265, "symlinkat": 266, "readlinkat": 267, "faccessat": 269, "pselect6": 270,
        "ppoll": 271, "set_robust_list": 273, "get_robust_list": 274, "dup3": 292, "pipe2": 293,
        "prlimit64": 302, "renameat2": 316, "getrandom": 318, "statx": 332, "rseq": 334, "io_uring_setup": 425,
        "openat2": 437, "faccessat2": 439
    },
    "aarch64": {
        "getcwd": 17, "dup": 23, "dup3": 24, "fcntl": 25, "ioctl": 29, "mknodat": 33, "mkdirat": 34,
        "unlinkat": 35, "symlinkat": 36, "linkat": 37, "renameat": 38, "truncate": 45, "faccessat": 48,
        "openat": 56, "close": 57, "pipe2": 59, "getdents64": 61, "lseek": 62, "read": 63, "write": 64,
        "readv": 65, "writev": 66, "pread64": 67, "pselect6": 72, "ppoll": 73, "readlinkat": 78,
        "newfstatat": 79, "fstat": 80, "exit": 93, "exit_group": 94, "waitid": 95, "set_tid_address": 96,
        "futex": 98, "set_robust_list": 99, "get_robust_list": 100, "nanosleep": 101, "getitimer": 102,
        "setitimer": 103, "clock_gettime": 113, "clock_getres": 114, "clock_nanosleep": 115,
        "sched_getaffinity": 123, "sched_yield": 124, "tgkill": 131, "sigaltstack": 132, "rt_sigaction": 134,
        "rt_sigprocmask": 135, "rt_sigreturn": 139, "uname": 160, "getrlimit": 163, "getrusage": 165,
        "gettimeofday": 169, "getpid": 172, "getppid": 173, "getuid": 174, "geteuid": 175, "getgid": 176,
        "getegid": 177, "gettid": 178, "sysinfo": 179, "socket": 198, "socketpair": 199, "sendto": 206,
        "recvfrom": 207, "sendmsg": 211, "recvmsg": 212, "brk": 214, "munmap": 215, "mremap": 216,
        "clone": 220, "mmap": 222, "fadvise64": 223, "mprotect": 226, "madvise": 233, "wait4": 260,
        "prlimit64": 261, "renameat2": 276, "getrandom": 278, "statx": 291, "rseq": 293, "io_uring_setup": 425,
        "openat2": 437, "faccessat2": 439
    },
}
ENOSYS, EACCES = 38, 13


def seccomp_program(machine: str, any_ioctl: bool = False) -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jump if true, jump if false, k) instructions; jumps count those skipped.

    Each test is followed by its own return, so no jump is longer than four instructions however long
    the list (classic BPF jumps reach only 255 ahead).
    """
    numbers = SYSCALL_NUMBERS[machine]
    LD_ABS, JEQ, JGE, JSET, RET, AND = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54
    ALLOW, REFUSE, UNKNOWN = 0x7FFF0000, 0x00050000 | EACCES, 0x00050000 | ENOSYS
    program = [(LD_ABS, 0, 0, 4), (JEQ, 1, 0, SECCOMP_ARCHES[machine]), (RET, 0, 0, REFUSE),  # another ABI (i386)
               (LD_ABS, 0, 0, 0), (JGE, 0, 1, 0x40000000), (RET, 0, 0, REFUSE)]  # x32 numbers
    for name, argument in OPENING.items():
        if name in numbers:  # read-only opens go on; the accumulator is reloaded only on this path
            program += [(JEQ, 0, 4, numbers[name]), (LD_ABS, 0, 0, 16 + 8 * argument),
                        (JSET, 0, 1, WRITE_FLAGS), (RET, 0, 0, REFUSE), (RET, 0, 0, ALLOW)]
    # mmap, but no shared anonymous mapping: each is an inode of the host's one shmem mount, numbered from
    # a counter every child moves and /proc/self/maps shows (red team: ~10 bits a hand-over, both modes).
    program += [(JEQ, 0, 5, numbers["mmap"]), (LD_ABS, 0, 0, 16 + 8 * 3), (AND, 0, 0, MAP_SHARED | MAP_ANONYMOUS),
                (JEQ, 0, 1, MAP_SHARED | MAP_ANONYMOUS), (RET, 0, 0, REFUSE), (RET, 0, 0, ALLOW)]
    # clone, but into no new namespace (user, network, mount...: the kernel's code behind them is no child's)
    # and with no pidfd (``CLONE_REFUSED``)
    program += [(JEQ, 0, 4, numbers["clone"]), (LD_ABS, 0, 0, 16), (JSET, 0, 1, CLONE_REFUSED),
                (RET, 0, 0, REFUSE), (RET, 0, 0, ALLOW)]
    requests = [] if any_ioctl else list(IOCTLS.values())  # the second argument's low half (ioctl's int)
    program += [(JEQ, 0, 2 + 2 * len(requests), numbers["ioctl"]), (LD_ABS, 0, 0, 24)]
    for request in requests:
        program += [(JEQ, 0, 1, request), (RET, 0, 0, ALLOW)]
    program += [(RET, 0, 0, ALLOW if any_ioctl else 0x00050000 | ENOTTY)]
    program += [(JEQ, 0, 2 + 2 * len(FCNTLS), numbers["fcntl"]), (LD_ABS, 0, 0, 24)]
    for command in FCNTLS.values():
        program += [(JEQ, 0, 1, command), (RET, 0, 0, ALLOW)]
    program += [(RET, 0, 0, REFUSE)]
    program += [(JEQ, 0, 2 + 2 * len(ADVICE), numbers["madvise"]), (LD_ABS, 0, 0, 32)]  # the advice
    for advice in ADVICE:
        program += [(JEQ, 0, 1, advice), (RET, 0, 0, ALLOW)]
    program += [(RET, 0, 0, 0x00050000 | EINVAL)]
    for name in SELF_ONLY:  # the first argument (64 bits, little-endian halves) must be 0
        program += [(JEQ, 0, 6, numbers[name]), (LD_ABS, 0, 0, 16), (JEQ, 0, 3, 0), (LD_ABS, 0, 0, 20),
                    (JEQ, 0, 1, 0), (RET, 0, 0, ALLOW), (RET, 0, 0, REFUSE)]
    for name in ALLOWED:
        if name in numbers:
            program += [(JEQ, 0, 1, numbers[name]), (RET, 0, 0, ALLOW)]
    for name in REFUSED:
        if name in numbers:
            program += [(JEQ, 0, 1, numbers[name]), (RET, 0, 0, REFUSE)]
    return program + [(RET, 0, 0, UNKNOWN)]


def allow_only_what_children_need(any_ioctl: bool = False) -> None:
    """A seccomp filter that lets through ``ALLOWED`` and read-only opens, and nothing else.

    Deny by default: a call nobody listed -- SysV IPC, a keyring, a message queue, whatever a
    later kernel adds -- is not a channel to a later child, because it fails. The child's own
    socketpair already exists; no new socket, so no network, abstract Unix sockets or loopback
    listeners, also where bubblewrap is missing. No file is made or changed, so nothing is left on
    the host for a later child to read, and no file system is flooded. A call from another ABI
    (x32, i386) is refused too, so it cannot dodge the numbers.
    """
    import ctypes
    import platform

    program = seccomp_program(platform.machine(), any_ioctl)

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


# Landlock (Linux 5.13+): which files a child may open at all, deny by default. The numbers are Linux's
# include/uapi/linux/landlock.h; each ABI version adds rights, all of which we handle (so refuse).
LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446  # the same on aarch64
LANDLOCK_CREATE_RULESET_VERSION, LANDLOCK_RULE_PATH_BENEATH = 1, 1
FS_EXECUTE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
# every file-system right of each ABI (2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV)
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_RIGHTS = (1 << 0) | (1 << 1)  # ABI 4: bind and connect TCP
SCOPES = (1 << 0) | (1 << 1)  # ABI 6: abstract Unix sockets and signals outside the child's own processes
O_PATH, O_CLOEXEC = 0o10000000, 0o2000000


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (older kernel, or not enabled)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def confine_files(readable: list[str]) -> int:
    """Let this process (and all it starts) open nothing but what lies under ``readable``, to read.

    Deny by default, like the seccomp list: without namespaces (the fallback mode) a child could read
    every world-readable file -- other students' hand-ins, the class's output folder with its reports,
    a checkout that was never made private. ``readable`` is what bubblewrap shows a child (``/usr``,
    Python, ``/proc``, a few devices: ``Isolation.readable``), so both modes see the same files. Where the
    kernel allows (Landlock ABI 6), signals and abstract Unix sockets to processes outside the child's
    own are refused too. Returns the Landlock ABI used, 0 where the kernel has none (nothing confined:
    file permissions alone stand, as the README says).
    """
    import ctypes
    import os
    import stat

    abi = landlock_abi()
    if abi < 1:
        return 0
    handled = FS_RIGHTS_BY_ABI[max(v for v in FS_RIGHTS_BY_ABI if v <= abi)]

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, NET_RIGHTS if abi >= 4 else 0, SCOPES if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ruleset = libc.syscall(LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in readable:
            try:
                fd = os.open(path, O_PATH | O_CLOEXEC)
            except OSError:
                continue  # not on this machine (/lib64 on aarch64)
            try:
                folder = stat.S_ISDIR(os.fstat(fd).st_mode)  # not /proc/self/fd: a child may have no /proc
                rights = (FS_READ_FILE | FS_READ_DIR | FS_EXECUTE) if folder else FS_READ_FILE
                rule = PathBeneath(rights, fd)
                if libc.syscall(LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
            finally:
                os.close(fd)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if libc.syscall(LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1  # the same on aarch64


def fork_into_own_pid_namespace(own_namespace_fd: int) -> int:
    """``os.fork()``, the child the first process of a PID namespace of its own (needs root).

    Every PID a child can learn -- its own, its processes', the counter behind them -- then starts
    afresh: in a shared namespace a child could spend PIDs until the next child's PID spelled a number
    (measured: 15 bits a hand-over, from one student's child to the next student's). The fork server
    goes back to its own namespace for its later children (``own_namespace_fd``: its
    ``/proc/self/ns/pid``). The child, being a namespace's init, ignores signals it has no handler
    for, save SIGKILL: its CPU soft limit reaches it as the hard limit's SIGKILL, which the fork
    server names by the CPU time it used (``zygote.reap``).
    """
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWPID) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID) failed")
    pid = None
    try:
        pid = os.fork()
        return pid
    finally:
        if pid != 0 and libc.setns(own_namespace_fd, CLONE_NEWPID) != 0:
            raise OSError(ctypes.get_errno(), "the fork server could not go back to its PID namespace")


def enter_own_namespaces() -> None:
    """IPC, UTS and mount namespaces for this child alone, every mount read-only in the last and no
    /proc at all (needs root: called before the uid drop, in the PID namespace of
    ``fork_into_own_pid_namespace``).

    Whatever SysV or POSIX IPC object the child or its processes could make dies with them, even if
    the seccomp filter let one through; a hostname it set would be its own. Read-only mounts matter
    for what reading leaves: on a host file system mounted ``relatime`` (the fallback mode) the first
    read of a file since it changed updates its access time, which a later child can ``stat`` -- a
    measured channel of a bit per file from one student's child to another's. A read-only mount never
    updates an access time (and refuses any write, should the seccomp filter let one through).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS) failed")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:  # nothing we change reaches the host
        raise OSError(ctypes.get_errno(), "making the child's mounts private failed")
    # No /proc, deny by default: an empty file system over the fork server's. Each kind of entry was a
    # channel from one student's child to a later one's (measured, red team): the fork server's counts of
    # the CPU time and page faults of the children it reaped; machine-wide counters (forks and context
    # switches in /proc/stat, the last PID in /proc/loadavg, /proc/vmstat's page faults, /proc/sys); and,
    # in a /proc of the child's processes alone, the inode number of every entry made for one, drawn from
    # a counter of the whole host (8 bits a hand-over). What the child learns of itself: ``own_tasks``.
    if libc.mount(b"none", b"/proc", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k,nr_inodes=1,mode=555") != 0:
        raise OSError(ctypes.get_errno(), "hiding /proc from the child failed")

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                    ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)) != 0 \
            and ctypes.get_errno() != ENOSYS:  # Linux before 5.12: the access-time channel stays (README)
        raise OSError(ctypes.get_errno(), "making the child's mounts read-only failed")


def private_descriptors(keep: int) -> None:
    """Hold no open file description the fork server holds too: 0, 1 and 2 a fresh ``/dev/null`` of
    this child's own, every other descriptor but ``keep`` (the child's socket) closed. Deny by default.

    After ``fork`` a child shares each inherited description with the fork server, which outlives it:
    what a child sets on one -- an OFD lock at any offset (a 64-bit number, as many as it likes), status
    flags, an owner -- a later child reads back, of the same student or the next (measured, both modes).
    Its own descriptions die with it.
    """
    import os

    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != null:
            os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.closerange(3, keep)
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


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
