# Copy a classmate: look for other students' hand-ins (beside our own folder, in the output folder; a
# real attack finds them on the grader's command line in /proc) to run their file instead of ours.
# @CLASSMATE@ is a world-readable class folder the test owns; in fallback mode, without a deny-by-default
# list of what a child may open, every such file is readable.
import os as _os

_candidates = ["@CLASSMATE@", _os.path.dirname("@SUBMISSION@"), "@OUT@"]
_stolen = None
for _root in _candidates:
    for _here, _folders, _files in _os.walk(_root):
        for _name in _files:
            try:
                with open(_os.path.join(_here, _name)) as _handle:
                    _text = _handle.read()
            except (OSError, UnicodeDecodeError):
                continue
            if "classmate's work" in _text:
                _stolen = _text
if _stolen is not None:
    raise RuntimeError("read a classmate's file")
raise RuntimeError("nothing of a classmate found")
