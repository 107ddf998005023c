while True:  # an endless loop at import time
    pass
