"""The adapter base class and the order-preserving key image shared by the adapters."""
import importlib.util

import numpy as np

from learned_index import _coerce

_SIGN64 = np.uint64(1 << 63)


def ordered_u64(a):
    """Order-preserving map of keys (any supported dtype) to ``uint64``.

    Unsigned integers are widened, signed ones get their sign bit flipped,
    floats get the IEEE-754 total-order transform (``-0.0`` is first made
    ``+0.0``, as the two compare equal). ``a < b`` iff ``f(a) < f(b)``.
    """
    a = np.asarray(a)
    if a.dtype.kind == "u":
        return a.astype(np.uint64)
    if a.dtype.kind == "i":
        return a.astype(np.int64).view(np.uint64) ^ _SIGN64
    b = (a.astype(np.float64) + 0.0).view(np.uint64)
    return np.where(b >> np.uint64(63) == 1, ~b, b | _SIGN64)


def _first_positions(arr):
    """Indices of the first occurrence of each distinct key of sorted ``arr``."""
    if arr.shape[0] == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], arr[1:] != arr[:-1]]))


class Adapter:
    """Base class: query coercion, the scalar fast path, empty inputs.

    Subclasses implement ``_build(arr)``, ``_lb_many(qk)`` and
    ``_contains_many(qk)`` on arrays of the key dtype (and may override the
    scalar hooks ``_lb_one``/``_contains_one``), plus ``_insert``/``_delete``
    where the peer supports updates.
    """

    name = "adapter"
    requires = None              # import name of the peer library, if any
    supports_updates = False
    ranks_after_updates = True   # does lower_bound stay a rank after insert/delete?

    def __init__(self, **options):
        self.options = options
        self._n = 0
        self._dtype = None
        self._updated = False

    @classmethod
    def available(cls):
        """Whether the peer library can be imported."""
        return cls.requires is None or importlib.util.find_spec(cls.requires) is not None

    def build(self, keys):
        """Build over ``keys`` (any order, validated like :class:`LearnedIndex`); returns self."""
        arr = _coerce.as_keys(keys)
        self._dtype, self._ktype, self._n = arr.dtype, arr.dtype.type, int(arr.shape[0])
        if arr.dtype.kind == "f":
            self._t1, self._kmin, self._kmax = float, -np.inf, np.inf
        else:
            info = np.iinfo(arr.dtype)
            self._t1, self._kmin, self._kmax = int, int(info.min), int(info.max)
        self._updated = False
        self._build(arr)
        return self

    def __len__(self):
        return self._n

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} n={self._n}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release external resources (files, environments)."""

    @property
    def nbytes(self):
        """Bytes the structure occupies beyond ``n * itemsize`` (one packed key array), or None."""
        return None

    # ------------------------------------------------------------------ queries
    def _fast(self, q):
        t = type(q)
        return (t is self._t1 or t is self._ktype) and self._kmin <= q <= self._kmax

    def _lb_one(self, x):
        return int(self._lb_many(np.array([x], dtype=self._dtype))[0])

    def _contains_one(self, x):
        return bool(self._contains_many(np.array([x], dtype=self._dtype))[0])

    def lower_bound(self, q):
        """First position whose key is ``>= q`` (int, or int64 array shaped like ``q``)."""
        if self._updated and not self.ranks_after_updates:
            raise RuntimeError(f"{self.name}: positions are those of the build; after insert/delete "
                               "the library cannot give ranks (no order statistics)")
        if self._fast(q):
            return self._lb_one(q) if self._n else 0
        qk, mask, value = _coerce.queries(q, self._dtype, _coerce.LEFT)
        out = self._lb_many(qk) if self._n else np.zeros(qk.shape[0], np.int64)
        if mask is not None:
            out[mask] = self._n if value else 0
        return int(out[0]) if np.ndim(q) == 0 else out.reshape(np.shape(q))

    def contains(self, q):
        """Whether ``q`` is a key (bool, or bool array shaped like ``q``)."""
        if self._fast(q):
            return self._contains_one(q) if self._n else False
        qk, mask, _ = _coerce.queries(q, self._dtype, _coerce.EXACT)
        out = self._contains_many(qk) if self._n else np.zeros(qk.shape[0], np.bool_)
        if mask is not None:
            out[mask] = False
        return bool(out[0]) if np.ndim(q) == 0 else out.reshape(np.shape(q))

    # ------------------------------------------------------------------ updates
    def _exact(self, key, error):
        qk, mask, _ = _coerce.queries(np.asarray(key).reshape(1), self._dtype, _coerce.EXACT)
        if mask is not None and mask[0]:
            raise error(key)
        return qk[0]

    def insert(self, key):
        """Insert one key (duplicates allowed); ``NotImplementedError`` if the peer is static."""
        if not self.supports_updates:
            raise NotImplementedError(f"{self.name} does not support insert")
        self._insert(self._exact(key, ValueError))
        self._n += 1
        self._updated = True

    def delete(self, key):
        """Delete one occurrence of ``key``; ``KeyError`` if absent."""
        if not self.supports_updates:
            raise NotImplementedError(f"{self.name} does not support delete")
        self._delete(self._exact(key, KeyError))
        self._n -= 1
        self._updated = True
