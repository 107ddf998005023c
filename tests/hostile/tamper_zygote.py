# Attack the fork server: signal it, read its memory and file descriptors.
import os
import signal

_zygote = os.getppid()
for _attempt in (lambda: os.kill(_zygote, signal.SIGKILL),
                 lambda: open(f"/proc/{_zygote}/mem", "rb").read(1),
                 lambda: os.listdir(f"/proc/{_zygote}/fd")):
    try:
        _attempt()
    except OSError:
        pass
