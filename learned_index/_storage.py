"""The on-disk format of :class:`~learned_index.kv.LearnedKV` (see ``docs/format.md``).

One file: a fixed 64-byte header, a JSON metadata block and raw, 64-byte
aligned little-endian arrays ("parts"), each with its CRC-32 in the metadata.
Saving writes a temporary file, fsyncs it, renames it over the target and
fsyncs the directory. Loading checks magic, version, sizes, the header and
metadata checksums, the layout of every part and (unless ``verify=False``)
every part's checksum; any mismatch raises ``ValueError``. No pickle: dtypes
are stored as numpy's ``descr`` in JSON and rebuilt without evaluating code.
"""
import json
import mmap as _mmap
import os
import struct
import sys
import zlib

import numpy as np

from . import _coerce, _delta, fences, rmi, train
from .index import LearnedIndex
from .models import (FORM_COMPACT, FORM_CUBIC, FORM_LINEAR, FORM_LOG, FORM_MLP, LEAF_FAMILIES,
                     ROOT_FAMILIES)
from .models import mlp
from .search import SEARCH_KINDS

MAGIC = b"LEARNKV\x00"
FORMAT = "learned-index-kv"
#: 2: a fence area stores its span (version 1 areas had none);
#: 3: linear leaves may be compact 16-byte records (learned_index/compact.py);
#: 4: so may linear middle records
VERSION = 4
#: versions this library reads: a version-2 model is a version-3 one without compact leaves,
#: a version-3 one is a version-4 one without compact middle records
READABLE = (2, 3, 4)
ALIGN = 64
#: magic, version, flags, meta offset, meta length, meta crc32, reserved, file size
_HEAD = struct.Struct("<8sIIQQIIQ")
HEAD_SIZE = 64
_HEAD_CRC = 60          # crc32 of bytes [0, 60) is stored at [60, 64)
#: parts mapped (not read) with ``mmap=True``, whose checksums ``verify=False`` skips
BIG_PARTS = ("keys", "values")
PARTS = BIG_PARTS + ("model", "starts", "delta_keys", "delta_live", "delta_values")

#: test hook: called with the name of each stage of a save (raise to simulate a crash)
_fault = None


def _stage(name):
    if _fault is not None:
        _fault(name)


def _pad(offset):
    return -offset % ALIGN


def _crc(a):
    return zlib.crc32(memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))) & 0xFFFFFFFF


def dtype_to_json(dt):
    """A dtype as JSON-able ``descr`` (refuses object dtypes)."""
    if dt.hasobject:
        raise TypeError(f"cannot save values of dtype {dt} (Python objects): "
                        "use a fixed-size dtype")
    return np.lib.format.dtype_to_descr(dt)


def _tuples(descr):
    if isinstance(descr, list):
        return [tuple(_tuples(x) if isinstance(x, list) else x for x in field) for field in descr]
    return descr


def dtype_from_json(descr):
    try:
        if isinstance(descr, list):
            for field in descr:
                if not isinstance(field, list) or len(field) not in (2, 3):
                    raise ValueError("bad field")
        elif not isinstance(descr, str):
            raise ValueError("bad descr")
        dt = np.lib.format.descr_to_dtype(_tuples(descr))
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f"corrupt LearnedKV file: bad dtype {descr!r} ({e})") from None
    if dt.hasobject or dt.itemsize == 0:
        raise ValueError(f"corrupt LearnedKV file: unsupported dtype {dt}")
    return dt


def write(path, meta, parts):
    """Write ``meta`` (dict) and ``parts`` (name -> 1-D array) atomically to ``path``."""
    if sys.byteorder != "little":
        raise OSError("LearnedKV files are little-endian; "
                      "saving on a big-endian host is not supported")
    path = os.fspath(path)
    arrays = {name: np.ascontiguousarray(a) for name, a in parts.items()}
    table = {}
    meta = dict(meta, parts=table)
    crcs = {name: _crc(a) for name, a in arrays.items()}
    blob, previous = b"", None
    while len(blob) != previous:     # offsets depend on the metadata's length and back
        previous = len(blob)
        offset = HEAD_SIZE + len(blob)
        for name, a in arrays.items():
            offset += _pad(offset)
            table[name] = {"offset": offset, "nbytes": int(a.nbytes), "shape": list(a.shape),
                           "dtype": dtype_to_json(a.dtype), "crc32": crcs[name]}
            offset += a.nbytes
        blob = json.dumps(meta, sort_keys=True).encode()
    size = offset
    head = _HEAD.pack(MAGIC, VERSION, 0, HEAD_SIZE, len(blob), zlib.crc32(blob), 0, size)
    head = head.ljust(_HEAD_CRC, b"\x00")
    head += struct.pack("<I", zlib.crc32(head))
    tmp = f"{path}.tmp-{os.getpid()}"
    f = open(tmp, "wb")
    try:
        _stage("open")
        f.write(head)
        _stage("header")
        f.write(blob)
        _stage("meta")
        for name, a in arrays.items():
            f.write(b"\x00" * (table[name]["offset"] - f.tell()))
            f.write(memoryview(a.reshape(-1).view(np.uint8)))
            _stage("part:" + name)
        f.flush()
        os.fsync(f.fileno())
        _stage("fsync")
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _stage("replace")
    _fsync_dir(os.path.dirname(os.path.abspath(path)))
    _stage("dirsync")


def _fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _bad(msg):
    return ValueError(f"corrupt or foreign LearnedKV file: {msg}")


def _header(f, size):
    head = f.read(HEAD_SIZE)
    if len(head) < 8 or head[:8] != MAGIC:
        raise ValueError("not a LearnedKV file (bad magic)")
    if len(head) < HEAD_SIZE:
        raise _bad("truncated header")
    magic, version, flags, moff, mlen, mcrc, _, fsize = _HEAD.unpack_from(head)
    (hcrc,) = struct.unpack_from("<I", head, _HEAD_CRC)
    if hcrc != zlib.crc32(head[:_HEAD_CRC]):
        raise _bad("header checksum mismatch")
    if version not in READABLE:
        raise ValueError(f"unsupported LearnedKV format version {version} "
                         f"(this library reads {', '.join(map(str, READABLE))})")
    if fsize != size:
        raise _bad(f"file is {size} bytes, header says {fsize} (truncated or extended)")
    if moff != HEAD_SIZE or moff + mlen > size:
        raise _bad("metadata out of bounds")
    f.seek(moff)
    blob = f.read(mlen)
    if len(blob) != mlen or zlib.crc32(blob) != mcrc:
        raise _bad("metadata checksum mismatch")
    try:
        meta = json.loads(blob.decode())
    except (UnicodeDecodeError, ValueError):
        raise _bad("metadata is not JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("parts"), dict):
        raise _bad("metadata lacks the parts table")
    return meta, moff + mlen


def _layout(meta, start, size):
    """Validate the parts table: known names, aligned, in bounds, not overlapping."""
    spans = []
    out = {}
    for name in PARTS:
        p = meta["parts"].get(name)
        if not isinstance(p, dict):
            raise _bad(f"part {name!r} missing")
        try:
            off, nbytes, crc = int(p["offset"]), int(p["nbytes"]), int(p["crc32"])
            shape = tuple(int(s) for s in p["shape"])
        except (KeyError, TypeError, ValueError):
            raise _bad(f"part {name!r} has a malformed entry") from None
        dt = dtype_from_json(p.get("dtype"))
        if len(shape) != 1 or shape[0] < 0 or shape[0] * dt.itemsize != nbytes:
            raise _bad(f"part {name!r}: shape {shape} does not match {nbytes} bytes of {dt}")
        if off % ALIGN or off < start or off + nbytes > size:
            raise _bad(f"part {name!r} out of bounds or misaligned")
        spans.append((off, off + nbytes, name))
        out[name] = (off, shape[0], dt, crc)
    spans.sort()
    for (_, e1, a), (s2, _, b) in zip(spans, spans[1:]):
        if s2 < e1:
            raise _bad(f"parts {a!r} and {b!r} overlap")
    return out


def read(path, mmap=True, verify=True):
    """Read a file written by :func:`write`: ``(meta, parts)``.

    With ``mmap`` the big parts are read-only views of a memory map (zero
    copy); otherwise they are read into memory. Checksums of every part are
    verified, except those of :data:`BIG_PARTS` when ``verify`` is False.
    """
    if sys.byteorder != "little":
        raise OSError("LearnedKV files are little-endian; "
                      "loading on a big-endian host is not supported")
    with open(os.fspath(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        meta, start = _header(f, size)
        layout = _layout(meta, start, size)
        mm = None
        if mmap and size:
            mm = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
        parts = {}
        for name, (off, count, dt, crc) in layout.items():
            if mm is not None and name in BIG_PARTS:
                a = np.frombuffer(mm, dtype=dt, count=count, offset=off)
            else:
                a = np.empty(count, dtype=dt)
                f.seek(off)
                if f.readinto(memoryview(a.view(np.uint8))) != a.nbytes:
                    raise _bad(f"part {name!r} truncated")
            if (verify or name not in BIG_PARTS) and _crc(a) != crc:
                raise _bad(f"checksum mismatch in part {name!r}")
            parts[name] = a
    return meta, parts


def check_blob(blob, n, n_leaves, n_mid, itemsize=8):
    """Check that a model blob is laid out so that no lookup reads outside it.

    A blob that passes may still be a poor model; lookups stay exact because
    the last-mile search verifies its answer (see :func:`.search.settle`).
    """
    size = blob.shape[0]
    if size < rmi.HEADER:
        raise _bad("model blob too short")
    h = blob[:rmi.HEADER]
    if not np.all(np.isfinite(h)) or np.any(h != np.floor(h)) or np.any(h < 0):
        raise _bad("model header is not integral")
    g = [int(v) for v in h]
    forms = (FORM_LINEAR, FORM_CUBIC, FORM_LOG, FORM_MLP)
    if g[rmi.H_N] != n or g[rmi.H_N_LEAVES] != n_leaves or g[rmi.H_N_MID] != n_mid:
        if n or g[rmi.H_N]:
            raise _bad("model header does not match the keys")
    if n == 0:
        return
    if g[rmi.H_ROOT_FORM] not in forms or g[rmi.H_LEAF_FORM] not in (FORM_LINEAR, FORM_CUBIC,
                                                                     FORM_COMPACT) \
            or g[rmi.H_MID_FORM] not in (FORM_LINEAR, FORM_CUBIC, FORM_COMPACT):
        raise _bad("unknown model form")
    if g[rmi.H_LEAF_W] != rmi.record_width(g[rmi.H_LEAF_FORM]) or n_leaves < 1 or \
            (n_mid and g[rmi.H_MID_W] != rmi.record_width(g[rmi.H_MID_FORM])):
        raise _bad("model record width")
    root, mid, leaf = g[rmi.H_ROOT_OFF], g[rmi.H_MID_OFF], g[rmi.H_LEAF_OFF]
    mid_slots = rmi.leaf_slots(n_mid, g[rmi.H_MID_FORM]) if n_mid else 0
    if root != rmi.HEADER or not root <= mid <= leaf or mid + mid_slots * g[rmi.H_MID_W] > leaf \
            or rmi.leaf_end(blob) > size:
        raise _bad("model offsets out of bounds")
    need = {FORM_LINEAR: 2, FORM_CUBIC: 5, FORM_LOG: 2}.get(g[rmi.H_ROOT_FORM])
    if g[rmi.H_ROOT_FORM] == FORM_MLP:
        if mid - root < 5:
            raise _bad("mlp root truncated")
        layers, h1, h2 = (blob[root + 2], blob[root + 3], blob[root + 4])
        if layers not in (0, 1, 2) or not (0 <= h1 <= 64 and 0 <= h2 <= 64):
            raise _bad("mlp root shape")
        h1, h2 = int(h1), int(h2)
        need = mlp.n_params((h1, h2)[:int(layers)])
    if mid - root < need:
        raise _bad("root parameters truncated")
    pi = blob.view(np.int32)
    if n_mid:
        o = mid + np.arange(mid_slots) * g[rmi.H_MID_W]
        if g[rmi.H_MID_FORM] == FORM_COMPACT:   # each c0 starts a range ending at the next
            a = pi[2 * o + 2]
            a, b = a[:-1], a[1:]
        else:
            a, b = pi[2 * o + 2], pi[2 * o + 3]
        if np.any(a < 0) or np.any(b < a) or np.any(b >= n_leaves):
            raise _bad("middle stage routes outside the leaves")
    o, width = rmi.leaf_records(blob)
    fence = width == fences.FENCE_MARK
    if np.any((width < 0) & ~fence):
        raise _bad("negative leaf window")
    if fence.any():                 # fence leaves (learned_index.fences): area p[f:] in bounds
        f = rmi.stored_fence_areas(blob, o[fence])      # whole and in bounds: safe to cast
        if not np.all((f == np.floor(f)) & (f >= 0) & (f + fences.AREA_HEADER <= size)):
            raise _bad("fence area out of bounds")
        if not fences.areas_valid(blob, f.astype(np.int64), n, fences.keys_per_line(itemsize)):
            raise _bad("fence area out of bounds")


# --------------------------------------------------------------------------- the store's parts

def describe(index, size, kdt, vdt, options):
    """The metadata of a store (see docs/format.md)."""
    return {
        "format": FORMAT, "len": int(size), "key_dtype": kdt.str, "value_dtype": dtype_to_json(vdt),
        "index": {"stages": list(index.stages_), "search": index.search_,
                  "n_leaves": index.n_leaves_, "n_mid": index.n_mid_,
                  "parallel": index.parallel_, "max_window": getattr(index, "max_window_", None),
                  "info": {k: v for k, v in index._info.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)}},
        "options": options,
    }


def save_store(path, index, values, dkeys, dslots, dvals, size, options):
    """Write a store: its base (``index`` and ``values``) and buffer (sorted
    ``dkeys``; ``dslots`` rows of ``dvals`` or -1 for a deletion)."""
    live = dslots >= 0
    rows = np.zeros(dkeys.shape[0], values.dtype)
    rows[live] = dvals[dslots[live]]
    meta = describe(index, size, index.keys_.dtype, values.dtype, options)
    write(path, meta, {"keys": index.keys_, "values": values, "model": index.model_,
                       "starts": np.asarray(index._info["starts"], np.int64), "delta_keys": dkeys,
                       "delta_live": live.astype(np.uint8), "delta_values": rows})


def open_store(path, mmap=True, verify=True):
    """Read and validate a store file: a dict of its dtypes, options, the
    rebuilt :class:`LearnedIndex` and the value and buffer arrays."""
    meta, parts = read(path, mmap=mmap, verify=verify)
    try:
        if meta.get("format") != FORMAT:
            raise _bad("not a LearnedKV store")
        kdt = np.dtype(meta["key_dtype"])
        vdt = dtype_from_json(meta["value_dtype"])
        info, options = meta["index"], meta["options"]
        stages, search = tuple(info["stages"]), info["search"]
        n_leaves, n_mid = int(info["n_leaves"]), int(info["n_mid"])
        parallel, max_window = bool(info.get("parallel", False)), info.get("max_window")
        extra = {k: float(v) if isinstance(v, float) else int(v) for k, v in info["info"].items()}
        if max_window is not None:
            max_window = int(max_window)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(f"bad metadata ({e})") from None
    if kdt not in _coerce.KEY_DTYPES or len(stages) not in (2, 3) or \
            stages[0] not in ROOT_FAMILIES or any(s not in LEAF_FAMILIES for s in stages[1:]) \
            or search not in SEARCH_KINDS:
        raise _bad("bad key dtype or index description")
    keys, values, model, starts = (parts[p] for p in ("keys", "values", "model", "starts"))
    dkeys, dlive, dvals = (parts[p] for p in ("delta_keys", "delta_live", "delta_values"))
    n = keys.shape[0]
    if not n:
        n_leaves = n_mid = 0
    if keys.dtype != kdt or values.dtype != vdt or values.shape[0] != n or \
            dkeys.dtype != kdt or dvals.dtype != vdt or dlive.dtype != np.uint8 or \
            not dkeys.shape[0] == dlive.shape[0] == dvals.shape[0] or model.dtype != np.float64:
        raise _bad("parts do not match the metadata")
    if starts.dtype != np.int64 or starts.shape[0] != n_leaves + 1 or \
            starts[0] != 0 or starts[-1] != n or np.any(np.diff(starts) < 0):
        raise _bad("leaf table does not match the keys")
    if np.any(dlive > 1) or not _delta.strictly_increasing(dkeys) or \
            (kdt.kind == "f" and np.isnan(dkeys).any()):
        raise _bad("bad buffer")
    if verify and (not _delta.strictly_increasing(keys) or
                   (kdt.kind == "f" and n and (np.isnan(keys[0]) or np.isnan(keys[-1])))):
        raise _bad("keys are not sorted and distinct")
    check_blob(model, n, n_leaves, n_mid, kdt.itemsize)
    blob = train._aligned_zeros(model.shape[0])
    blob[:] = model
    try:
        index = index_from_parts(keys, blob, starts, stages, search, n_leaves, n_mid, parallel,
                                 max_window, extra)
    except (TypeError, ValueError) as e:
        raise _bad(f"bad index description ({e})") from None
    return {"kdt": kdt, "vdt": vdt, "options": options, "index": index, "values": values,
            "delta_keys": dkeys, "delta_live": dlive, "delta_values": dvals}


def index_from_parts(keys, model, starts, stages, search, n_leaves, n_mid, parallel,
                     max_window=None, info=None):
    """A :class:`LearnedIndex` over ``keys`` from a saved model blob, without training."""
    return LearnedIndex._from_parts(keys, model, starts, tuple(stages), search, n_leaves, n_mid,
                                    parallel, max_window, info)
