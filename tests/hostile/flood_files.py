# Create as many files as possible in every writable place, at import; say how many it managed.
import os as _os

_created = 0
for _folder in ("/tmp", "/dev/shm", "/var/tmp"):
    for _index in range(20_000):
        try:
            open(f"{_folder}/@MARKER@-{_index}", "w").close()
            _created += 1
        except OSError:
            break
    try:
        _os.makedirs(f"{_folder}/@MARKER@-dir/a/b", exist_ok=True)
        _created += 1
    except OSError:
        pass
if _created:
    raise RuntimeError(f"flood: created {_created} files")
