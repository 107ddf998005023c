# Write a forged reply straight onto the child's socket: a string where a gradient belongs.
import json as _json
import os as _os
import stat as _stat
import struct as _struct


def _sockets():  # every descriptor that is a socket (asked of each: a child may have no /proc)
    for fd in range(3, 1024):
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass


def _forge(self, x, return_weights=False):
    answer = {"output": "looks fine", "inputs_changed": [], "input_grads": "nope", "param_grads": 5}
    reply = {"ok": True, "value": [{"build": None, "loads": [], "steps": [{"ok": True, "value": answer}]}],
             "printed": ""}
    header = _json.dumps(reply).encode()
    frame = _struct.pack("!I", len(header)) + header
    for fd in _sockets():
        _os.write(fd, _struct.pack("!Q", len(frame)) + frame)
    return x


SelfAttention.forward = _forge
