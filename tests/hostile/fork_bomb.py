import os
import time

while True:  # every process forks forever; the processes rlimit caps them, the zygote kills them
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
