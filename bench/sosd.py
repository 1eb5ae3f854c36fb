"""Loading key files: SOSD's binary format and ``.npy``.

SOSD (Kipf et al., "SOSD: A Benchmark for Learned Indexes", 2019) ships each
data set as a little-endian binary file: one ``uint64`` count, then that many
keys, ``uint64`` or ``uint32`` (the file name ends in ``_uint64`` or
``_uint32``, e.g. ``books_200M_uint64``). :func:`load` reads such a file (or
a ``.npy`` array) so that ``python -m bench --data PATH`` runs the same suite
on the real 200M-key sets.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "toy_uint32")
>>> write(path, np.array([5, 3, 9], dtype=np.uint32))
>>> load(path)
array([3, 5, 9], dtype=uint32)
"""
import os

import numpy as np


def dtype_of(path):
    """Key dtype of a SOSD file from its name (``*uint32*`` or ``*uint64*``, default uint64)."""
    base = os.path.basename(path).lower()
    return np.dtype("<u4") if "uint32" in base else np.dtype("<u8")


def write(path, keys):
    """Write ``keys`` (uint32 or uint64) in SOSD's format: a ``uint64`` count, then the keys."""
    keys = np.asarray(keys)
    if keys.dtype not in (np.uint32, np.uint64):
        raise ValueError(f"SOSD files hold uint32 or uint64 keys, not {keys.dtype}")
    with open(path, "wb") as f:
        f.write(np.uint64(len(keys)).astype("<u8").tobytes())
        f.write(keys.astype(keys.dtype.newbyteorder("<"), copy=False).tobytes())


def load(path, dtype=None, limit=None):
    """Sorted keys of a SOSD binary file or a ``.npy`` file.

    Parameters
    ----------
    path : str
        ``*.npy`` (any 1-D numeric array) or a SOSD file.
    dtype : numpy dtype, optional
        Key type of a SOSD file; guessed from the name by :func:`dtype_of`.
    limit : int, optional
        Read only the first ``limit`` keys (memory-mapped, so a 200M-key file
        is not read whole).

    Returns
    -------
    ndarray
        Keys in native byte order, sorted (SOSD files are sorted already; a
        check costs one pass).

    Raises
    ------
    ValueError
        If the header's count does not match the file's size.
    """
    if path.endswith(".npy"):
        keys = np.load(path, mmap_mode="r")
        keys = np.asarray(keys[:limit] if limit else keys)
    else:
        dt = np.dtype(dtype).newbyteorder("<") if dtype is not None else dtype_of(path)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            count = int(np.frombuffer(f.read(8), "<u8")[0])
        if 8 + count * dt.itemsize != size:
            raise ValueError(f"{path}: header says {count} keys of {dt.itemsize} bytes, "
                             f"but the file has {size - 8} bytes of keys (wrong --data dtype?)")
        mm = np.memmap(path, dtype=dt, mode="r", offset=8, shape=(count,))
        keys = np.array(mm[:limit] if limit else mm).astype(dt.newbyteorder("="))
    if keys.ndim != 1:
        raise ValueError(f"{path}: keys must be 1-D, got shape {keys.shape}")
    if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
        keys = np.sort(keys)
    return keys
