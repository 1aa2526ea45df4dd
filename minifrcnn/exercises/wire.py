"""The messages between the grader and the worker that runs a submission: a JSON header plus
arrays in .npz form, read back with allow_pickle=False.

Nothing here unpickles: a submission's worker decides what bytes it sends, so what it returns must
not be able to run code in the grading process. Only numbers, strings, None, tuples, dicts and
plain (non-object) arrays travel, and the argument markers of `calls`.

A message on the pipe is an 8-byte little-endian length followed by that many bytes.
"""

import io
import json
import struct

import numpy as np

from .calls import Call, Entry, Opaque, Outcome, Previous, Probe, Rng

LENGTH = struct.Struct("<Q")
MAX_MESSAGE = 512 * 2 ** 20      # a reply larger than this is refused, not read


class WireError(ValueError):
    """A message that is not one this module writes."""


def _encode(value, arrays):
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"opaque": "object array"}
        arrays.append(value)
        return {"array": len(arrays) - 1}
    if isinstance(value, np.generic):
        return _encode(np.asarray(value), arrays)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return {"tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, Opaque):
        return {"opaque": value.type_name}
    if isinstance(value, Previous):
        return {"previous": [value.step, value.index]}
    if isinstance(value, Rng):
        return {"rng": value.seed}
    if isinstance(value, Entry):
        return {"entry": [_encode(value.max_overlaps, arrays), _encode(value.labels, arrays)]}
    if isinstance(value, Probe):
        return {"probe": [_encode(value.a, arrays), _encode(value.b, arrays), value.c]}
    if isinstance(value, Call):
        return {"call": [value.function, _encode(value.args, arrays), list(value.names),
                         list(value.opaque)]}
    if isinstance(value, Outcome):
        return {"outcome": [value.function, _encode(value.value, arrays), list(value.changed),
                            value.raised, value.message]}
    return {"opaque": type(value).__name__}


def _decode(node, arrays):
    if not isinstance(node, dict):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise WireError(f"unexpected {type(node).__name__} in a message")
    if len(node) != 1:
        raise WireError("a tagged value must have exactly one tag")
    (tag, body), = node.items()
    if tag == "array":
        return arrays[f"arr_{int(body)}"]
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in body)
    if tag == "dict":
        return {str(k): _decode(v, arrays) for k, v in body.items()}
    if tag == "opaque":
        return Opaque(str(body))
    if tag == "previous":
        return Previous(int(body[0]), int(body[1]))
    if tag == "rng":
        return Rng(int(body))
    if tag == "entry":
        return Entry(_decode(body[0], arrays), _decode(body[1], arrays))
    if tag == "probe":
        return Probe(_decode(body[0], arrays), _decode(body[1], arrays), float(body[2]))
    if tag == "call":
        return Call(str(body[0]), _decode(body[1], arrays), tuple(body[2]), tuple(body[3]))
    if tag == "outcome":
        return Outcome(str(body[0]), _decode(body[1], arrays), tuple(str(n) for n in body[2]),
                       None if body[3] is None else str(body[3]), str(body[4]))
    raise WireError(f"unknown tag {tag!r}")


def pack(value):
    """bytes of a value built from the types above."""
    arrays = []
    header = json.dumps(_encode(value, arrays)).encode()
    payload = io.BytesIO()
    np.savez(payload, *arrays)
    return LENGTH.pack(len(header)) + header + payload.getvalue()


def unpack(data):
    """The value `pack` wrote; WireError for anything else (object arrays are never loaded)."""
    try:
        (size,) = LENGTH.unpack_from(data)
        header = json.loads(data[LENGTH.size:LENGTH.size + size])
        with np.load(io.BytesIO(data[LENGTH.size + size:]), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return _decode(header, arrays)
    except WireError:
        raise
    except Exception as error:
        raise WireError(f"unreadable message: {error}") from None


def send(stream, value):
    data = pack(value)
    stream.write(LENGTH.pack(len(data)) + data)
    stream.flush()


def receive(stream):
    """The next value on the stream; None at the end of the stream."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (size,) = LENGTH.unpack(head)
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes is larger than the limit of {MAX_MESSAGE}")
    data = stream.read(size)
    if len(data) < size:
        return None
    return unpack(data)
