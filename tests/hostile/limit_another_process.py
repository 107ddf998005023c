# Lower the hard limits of another process of the same uid: here a process of our own; where the grader
# is not root, the fork server, so every later child (another student's) would start crippled.
import os as _os
import resource as _resource
import time as _time

_lowered = []
_other = _os.fork()
if _other == 0:
    _time.sleep(5)
    _os._exit(0)
for _target in (_other, _os.getppid()):
    if _target == 0:  # a parent outside our PID namespace has no number here (prlimit reads 0 as ourselves)
        continue
    try:
        _resource.prlimit(_target, _resource.RLIMIT_NOFILE, (8, 8))
        _lowered.append(str(_target))
    except OSError:
        pass
raise RuntimeError(f"lowered the limits of {', '.join(_lowered)}" if _lowered else "no other process's limits changed")
