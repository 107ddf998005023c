"""Framing and encoding: how the parent and a child talk, with no pickle in either direction.

A message is one length-prefixed frame holding a JSON header and then the raw bytes of every
tensor in it (``dumps``/``loads``). Only JSON's plain types and plain CPU tensors come out of
``loads``, and nothing it reads can run code. The parent imports this module; the limits it
passes (frame size, header size, deadline) are what keep a hostile child from swamping it.
"""
import json
import math
import socket
import struct
import time

# Said after an error raised inside a stand-in, called from the student's code, instead of blaming the
# student. A TypeError, AttributeError or ValueError there may be a call the docstrings allow that our
# stand-in refuses (an int where a tensor is usual): the grader flags IN_REFERENCE for a person. Any
# other error there (a shape that does not fit) comes from what the student's code built or passed.
IN_REFERENCE = ("This error was raised inside the reference code that stands in for a part you are not graded "
                "on here, called from your code; a person will check whether the call was allowed.")
FROM_REFERENCE = ("This error was raised inside the reference code that stands in for a part you are not graded "
                  "on here, from what your code built or passed to it.")

FRAME_HEADER = struct.Struct("!Q")
# A tensor's shape, as torch allows one: checked before any arithmetic on it (a product of
# 190,000 sizes of 10**18 is minutes of big-int work in the parent).
MAX_DIMS, MAX_SIZE = 64, 1 << 63
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


def send_frame(sock, payload: bytes) -> None:
    sock.sendall(FRAME_HEADER.pack(len(payload)) + payload)


def recv_frame(sock, max_bytes: int, deadline: float | None = None) -> bytes:
    """Read one length-prefixed frame; refuse frames larger than ``max_bytes``.

    ``deadline`` (a ``time.monotonic()`` instant) bounds the whole frame, not each ``recv``: a
    reply dripped one byte at a time times out like one that never comes (``socket.timeout``).
    """
    (length,) = FRAME_HEADER.unpack(_recv_exactly(sock, FRAME_HEADER.size, deadline))
    if length > max_bytes:
        raise ValueError(f"message of {length} bytes is larger than the {max_bytes}-byte limit")
    return _recv_exactly(sock, length, deadline)


def _recv_exactly(sock, n: int, deadline: float | None) -> bytes:
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the reply did not arrive in time")
            sock.settimeout(left)
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def dumps(obj) -> bytes:
    """Encode plain data and tensors without pickle: a JSON header, then the raw tensor bytes.

    ``json`` walks the structure in C and hands each tensor to ``default`` in document order, the
    order ``loads`` meets their headers in.
    """
    import torch

    buffers = []

    def encode(value):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"a {type(value).__name__} cannot be sent")
        value = value.detach().to("cpu").contiguous()
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            raise TypeError(f"tensors of dtype {dtype} cannot be sent")
        try:
            data = value.numpy()  # the tensor's own memory: copied once, by the join below
        except TypeError:  # a dtype numpy lacks (bfloat16): its bytes
            data = value.reshape(-1).view(torch.uint8).numpy()
        buffers.append(data)
        return {"__tensor__": [dtype, list(value.shape), data.nbytes]}

    header = json.dumps(obj, default=encode).encode()
    return b"".join([struct.pack("!I", len(header)), header, *buffers])


def loads(data: bytes, max_header_bytes: int | None = None):
    """Decode what ``dumps`` made: only JSON's plain types and plain CPU tensors come out.

    Anything malformed raises ValueError, whatever it made the decoder raise. Never runs code.
    ``max_header_bytes`` bounds the JSON part, which is what grows when parsed (a tensor's bytes do not).
    """
    import torch

    if len(data) < 4:
        raise ValueError("message too short")
    (header_length,) = struct.unpack_from("!I", data)
    if 4 + header_length > len(data):
        raise ValueError("header longer than the message")
    if max_header_bytes is not None and header_length > max_header_bytes:
        raise ValueError(f"header of {header_length} bytes is larger than the {max_header_bytes}-byte limit")
    payload = memoryview(data)
    offset = 4 + header_length

    def tensor(header: dict):
        nonlocal offset
        if "__tensor__" not in header:
            return header
        try:
            (dtype, shape, nbytes), = header.values()
        except (TypeError, ValueError):
            raise ValueError("malformed tensor header") from None
        if (dtype not in _DTYPES or type(shape) is not list or len(shape) > MAX_DIMS
                or not all(type(s) is int and 0 <= s < MAX_SIZE for s in shape) or type(nbytes) is not int):
            raise ValueError("malformed tensor header")
        torch_dtype = getattr(torch, dtype)
        if nbytes != math.prod(shape) * torch.empty((), dtype=torch_dtype).element_size() or offset + nbytes > len(data):
            raise ValueError("tensor data does not match its header")
        start, offset = offset, offset + nbytes
        if not nbytes:
            return torch.empty(shape, dtype=torch_dtype)
        raw = bytearray(payload[start:offset])  # its own aligned, writable memory
        return torch.frombuffer(raw, dtype=torch_dtype).reshape(shape)

    try:
        return json.loads(payload[4:4 + header_length].tobytes(), object_hook=tensor)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 -- deny by default: whatever else the bytes provoke (a shape
        # past int64 makes torch raise TypeError or RuntimeError, deep nesting RecursionError) is malformed
        raise ValueError(f"unreadable header ({type(exc).__name__})") from None
