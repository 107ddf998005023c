import os
import time

if os.fork() == 0:  # a grandchild in its own session, outliving its parent
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(1)
    os._exit(0)
