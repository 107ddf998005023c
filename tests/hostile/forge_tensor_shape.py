# A forged reply whose tensor header has a zero-sized shape with a dimension past int64: the parent's
# decoder builds torch.empty(shape) and gets TypeError/RuntimeError, not the ValueError it handles.
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
    tensor = {"__tensor__": ["float32", [0, 2 ** 62, 2 ** 62], 0]}
    answer = {"output": tensor, "inputs_changed": [], "input_grads": [], "param_grads": {}}
    reply = {"ok": True, "value": [{"build": None, "loads": [], "steps": [{"ok": True, "value": answer}]}],
             "printed": ""}
    header = _json.dumps(reply).encode()
    frame = _struct.pack("!I", len(header)) + header
    for fd in _sockets():
        _os.write(fd, _struct.pack("!Q", len(frame)) + frame)
    return x


SelfAttention.forward = _forge
