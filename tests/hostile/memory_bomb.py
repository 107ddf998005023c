hoard = []
while True:  # grow until the address-space limit stops it
    hoard.append(bytearray(64 << 20))
