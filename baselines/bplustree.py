"""``BPlusTree``: the cache-optimised B+tree a learned index has to beat."""
from functools import partial

import numpy as np

from learned_index import _coerce
from learned_index.index import _entry_point
from learned_index.search import SEARCH_KINDS

from . import _bptree_dynamic as _dyn
from . import _bptree_static as _static

NODE_SIZES = (16, 32, 64, 128, 256)
LEAF_SEARCH = {**SEARCH_KINDS, "count": _static.COUNT}
NODE_SEARCH = {"branchless": _static.NODE_BRANCHLESS, "count": _static.NODE_COUNT}


class BPlusTree:
    """A B+tree over a sorted key array, in flat numpy arrays, with exact lookups.

    Bulk-loaded as a static, pointer-free B+tree (a CSS-tree): the leaves are
    the sorted key array itself, cut into blocks of ``node_size * fill`` keys,
    and each inner level is an array of nodes of ``node_size`` slots holding
    the largest key of each child, 64-byte aligned (one node is a whole
    number of cache lines). A lookup descends by searching one node per level
    and finishes in the leaf block with the same last-mile kernels as
    :class:`learned_index.LearnedIndex` (as in SOSD). Results are identical
    to ``np.searchsorted`` (side left or right).

    The first :meth:`insert` or :meth:`delete` turns the tree into a dynamic
    B+tree (an O(n) rebuild): fixed-capacity leaves, inner nodes with child
    ids and subtree sizes, splits of full nodes, borrowing or merging of nodes
    below half full. Subtree sizes keep ``lower_bound`` a position in the
    current sorted order. See :mod:`baselines._bptree_dynamic`.

    Parameters
    ----------
    keys : array_like
        1-D keys: uint64, int64, uint32, int32 or float64 (smaller dtypes are
        widened). Unsorted input is sorted into a copy; sorted contiguous input
        is used without a copy (do not modify it afterwards). Duplicates are
        allowed, NaN raises ``ValueError``.
    node_size : {16, 32, 64, 128, 256}
        Keys per node (leaf block and inner node).
    fill : float
        Bulk-load fill factor in ``(0, 1]``: keys per leaf and children per
        inner node are ``max(1, node_size * fill)`` (at least 2 for inner nodes).
    parallel : bool
        Split array queries across threads (numba ``prange``).
    search : {"count", "branchless", "binary", "linear", "exponential"}
        Search inside a leaf block: ``"count"``, a branch-free SIMD count of
        the keys before the query (the fastest on random batches: all of a
        block's cache lines are fetched at once), or one of the shared kernels
        of :mod:`learned_index.search`.
    node_search : {"count", "branchless"}
        Search inside an inner node: a SIMD count of its slots, or a
        branch-free binary search.

    Notes
    -----
    Runtime complexity: build O(n) after sorting; a lookup O(h log B) with
    ``h = log_F(n / L)`` inner levels (static), O(h B) once dynamic (the rank
    adds the subtree sizes left of the path); insert and delete O(h B), plus an
    O(n) conversion on the first write. Queries of another dtype than the
    keys are compared exactly, as in :class:`learned_index.LearnedIndex`.

    Examples
    --------
    >>> import numpy as np
    >>> from baselines import BPlusTree
    >>> t = BPlusTree(np.array([3, 5, 5, 9, 12], dtype=np.uint64), node_size=16)
    >>> t.lower_bound(5), t.upper_bound(5), t.lower_bound(-1), t.lower_bound(2**64)
    (1, 3, 0, 5)
    >>> t.lower_bound(np.array([0, 9, 10], dtype=np.uint64))
    array([0, 3, 4])
    >>> t.contains(9), t.contains(9.5), t.range(4, 10)
    (True, False, (1, 4))
    >>> t.insert(7); t.delete(5); t.keys
    array([ 3,  5,  7,  9, 12], dtype=uint64)
    """

    def __init__(self, keys, node_size=64, fill=1.0, parallel=False, search="count",
                 node_search="count"):
        arr = _coerce.as_keys(keys)
        if node_size not in NODE_SIZES:
            raise ValueError(f"node_size must be one of {NODE_SIZES}, got {node_size!r}")
        if not 0 < fill <= 1:
            raise ValueError(f"fill must be in (0, 1], got {fill!r}")
        if search not in LEAF_SEARCH:
            raise ValueError(f"unknown search {search!r}; choose from {tuple(LEAF_SEARCH)}")
        if node_search not in NODE_SEARCH:
            raise ValueError(f"unknown node_search {node_search!r}; choose from {tuple(NODE_SEARCH)}")
        self._keys = arr
        self._dtype = arr.dtype
        self._ktype = arr.dtype.type
        self._pad = _static.pad_value(arr.dtype)
        self.node_size_ = int(node_size)
        self.fill_ = float(fill)
        self.parallel_ = bool(parallel)
        self.search_, self.node_search_ = search, node_search
        self._kind, self._node_kind = LEAF_SEARCH[search], NODE_SEARCH[node_search]
        self._seps, self._meta = _static.build(arr, self.node_size_, self.fill_)
        self._pools = None          # set on the first write
        self._materialized = None   # sorted keys of a dynamic tree, until the next write
        if self._dtype.kind == "f":
            self._t1, self._kmin, self._kmax = float, -np.inf, np.inf
        else:
            info = np.iinfo(self._dtype)
            self._t1, self._kmin, self._kmax = int, int(info.min), int(info.max)
        self._bind()

    # ------------------------------------------------------------------ properties
    @property
    def dynamic(self):
        """Whether the tree has been written to (and left the static layout)."""
        return self._pools is not None

    @property
    def keys(self):
        """The sorted keys (read-only). Once dynamic, a copy made in O(n) after each write."""
        if self._pools is None:
            return self._keys
        if self._materialized is None:
            p = self._pools
            out = np.empty(len(self), dtype=self._dtype)
            _dyn.materialize(p.lk, p.lc, p.ln, p.meta, out)
            out.flags.writeable = False
            self._materialized = out
        return self._materialized

    @property
    def nbytes(self):
        """Bytes beyond the key array: inner nodes and metadata (static); once
        dynamic, every pool (leaf slots included) minus the keys themselves."""
        if self._pools is None:
            return int(self._seps.nbytes + self._meta.nbytes)
        return self._pools.nbytes - len(self) * self._dtype.itemsize

    def __len__(self):
        if self._pools is None:
            return int(self._keys.shape[0])
        return int(self._pools.meta[_dyn.N])

    def __repr__(self):
        return (f"BPlusTree(n={len(self)}, dtype={self._dtype}, node_size={self.node_size_}, "
                f"fill={self.fill_}, height={self.stats()['height']}, dynamic={self.dynamic})")

    # ------------------------------------------------------------------ lookups
    def _bind(self):
        """Compiled scalar entry points and their array arguments (after every write).

        Calling an entry point skips numba's dispatch, which costs more than a
        lookup; only Python ints/floats in the key range (or key scalars) take
        that path, everything else goes through :func:`_coerce.queries`.
        """
        probe = self._ktype(0)
        if self._pools is None:
            arrays, mod = (self._keys, self._seps, self._meta), _static
        else:
            p = self._pools
            arrays, mod = (p.lk, p.lc, p.ik, p.ic, p.isz, p.icnt, p.meta), _dyn
        self._arrays = arrays
        fixed = (*arrays, self._kind, self._node_kind)
        self._lb_one = partial(_entry_point(mod.bound_one, (*fixed, probe, False)), *fixed)
        self._contains_one = partial(_entry_point(mod.contains_one, (*fixed, probe)), *fixed)

    def _many(self, qk, out, right):
        if self._pools is None:
            kernel = _static.bound_many_parallel if self.parallel_ else _static.bound_many
        else:
            kernel = _dyn.bound_many_parallel if self.parallel_ else _dyn.bound_many
        kernel(*self._arrays, qk, out, right, self._kind, self._node_kind)

    def _bound(self, q, mode):
        right = mode == _coerce.RIGHT
        qk, mask, value = _coerce.queries(q, self._dtype, mode)
        out = np.empty(qk.shape[0], dtype=np.int64)
        self._many(qk, out, right)
        if mask is not None:
            out[mask] = len(self) if value else 0
        return int(out[0]) if np.ndim(q) == 0 else out.reshape(np.shape(q))

    def lower_bound(self, q):
        """First position whose key is ``>= q``: ``np.searchsorted(keys, q, side="left")``.

        Parameters
        ----------
        q : int, float or array_like
            Query or queries (any numeric dtype, compared exactly).

        Returns
        -------
        int, or ndarray of int64 with the shape of ``q``.

        Runtime complexity: O(h log B + log L) per query (static).
        """
        t = type(q)
        if (t is self._t1 or t is self._ktype) and self._kmin <= q <= self._kmax:
            return self._lb_one(q, False)
        return self._bound(q, _coerce.LEFT)

    def upper_bound(self, q):
        """First position whose key is ``> q``: ``np.searchsorted(keys, q, side="right")``.

        Runtime complexity: O(h log B + log L) per query (static).
        """
        t = type(q)
        if (t is self._t1 or t is self._ktype) and self._kmin <= q <= self._kmax:
            return self._lb_one(q, True)
        return self._bound(q, _coerce.RIGHT)

    def contains(self, q):
        """Whether ``q`` is a key (exact comparison): bool, or a bool array.

        Runtime complexity: that of :meth:`lower_bound`.
        """
        t = type(q)
        if (t is self._t1 or t is self._ktype) and self._kmin <= q <= self._kmax:
            return self._contains_one(q)
        qk, mask, _ = _coerce.queries(q, self._dtype, _coerce.EXACT)
        out = np.empty(qk.shape[0], dtype=np.bool_)
        mod = _static if self._pools is None else _dyn
        mod.contains_many(*self._arrays, qk, out, self._kind, self._node_kind)
        if mask is not None:
            out[mask] = False
        return bool(out[0]) if np.ndim(q) == 0 else out.reshape(np.shape(q))

    def range(self, lo, hi):
        """Positions ``(start, stop)`` such that ``keys[start:stop]`` are the keys in ``[lo, hi)``.

        An empty interval (``hi <= lo``) gives ``start == stop``. Runtime: two lookups.
        """
        start = self.lower_bound(lo)
        stop = self.lower_bound(hi)
        return start, max(start, stop)

    # ------------------------------------------------------------------ updates
    def _exact(self, keys, error):
        qk, mask, _ = _coerce.queries(keys, self._dtype, _coerce.EXACT)
        if mask is not None and mask.any():
            bad = _coerce.element(keys, int(np.argmax(mask)))
            raise error(f"{bad!r} is not exactly representable as a {self._dtype} key")
        return qk

    def _to_dynamic(self):
        if self._pools is None:
            self._pools = _dyn.load(self._keys, self.node_size_, self.fill_, self._pad)
            self._keys = self._seps = None
            self._bind()
        self._materialized = None

    def insert_many(self, keys):
        """Insert every key of ``keys`` (duplicates allowed).

        Keys must be exactly representable in the key dtype (else ``ValueError``,
        and nothing is inserted). The batch is sorted first, for locality.
        Runtime complexity: O(m (h B + log m)), plus O(n) on the first write.
        """
        xs = np.sort(self._exact(keys, ValueError))
        self._to_dynamic()
        p, i = self._pools, 0
        while True:
            i = _dyn.insert_many(*p.args(), xs, i, self._pad)
            if i == xs.shape[0]:
                break
            p.grow(1 + (xs.shape[0] - i) // self.node_size_, int(p.meta[_dyn.HEIGHT]) + 2)
            self._bind()

    def insert(self, key):
        """Insert one key. Runtime complexity: O(h B), plus O(n) on the first write."""
        self.insert_many(np.asarray(key).reshape(1) if np.ndim(key) == 0 else key)

    def delete_many(self, keys):
        """Delete one occurrence of each key, in order.

        Raises ``KeyError`` at the first key that is absent (or not representable
        in the key dtype); the keys before it stay deleted. Runtime complexity: O(m h B), plus O(n) on the first write.
        """
        xs, mask, _ = _coerce.queries(keys, self._dtype, _coerce.EXACT)
        stop = int(np.argmax(mask)) if mask is not None and mask.any() else xs.shape[0]
        self._to_dynamic()
        done = _dyn.delete_many(*self._pools.args(), xs[:stop], self._pad)
        if done < xs.shape[0]:
            raise KeyError(_coerce.element(keys, done))

    def delete(self, key):
        """Delete one occurrence of ``key``; ``KeyError`` if absent. O(h B)."""
        if np.ndim(key) != 0:
            raise TypeError("delete takes one key; use delete_many for several")
        self.delete_many(np.asarray(key).reshape(1))

    # ------------------------------------------------------------------ introspection
    def stats(self):
        """Structure of the tree.

        Returns
        -------
        dict
            ``height`` (levels, leaves included; 0 for an empty static tree),
            ``nodes`` (inner nodes and leaves), ``inner_nodes``, ``leaves``,
            ``fill`` (keys per leaf slot), ``node_size``, ``nbytes``, ``n_keys``,
            ``dynamic``; once dynamic also ``splits``, ``merges``, ``borrows``.
        """
        B, n = self.node_size_, len(self)
        if self._pools is None:
            h = int(self._meta[_static.M_H])
            leaves = int(self._meta[_static.M_LEVELS + 2 * h])
            inner = int(self._meta[_static.M_LEVELS + h:_static.M_LEVELS + 2 * h].sum())
            out = {"height": h + 1 if leaves else 0}
        else:
            m = self._pools.meta
            leaves = int(m[_dyn.LEAF_HWM] - m[_dyn.N_FREE_L])
            inner = int(m[_dyn.INNER_HWM] - m[_dyn.N_FREE_I])
            out = {"height": int(m[_dyn.HEIGHT]) + 1, "splits": int(m[_dyn.SPLITS]),
                   "merges": int(m[_dyn.MERGES]), "borrows": int(m[_dyn.BORROWS])}
        out.update(nodes=inner + leaves, inner_nodes=inner, leaves=leaves,
                   fill=n / (leaves * B) if leaves else 0.0, node_size=B,
                   nbytes=self.nbytes, n_keys=n, dynamic=self.dynamic)
        return out

    def _check(self):
        """Assert the invariants; raises ``AssertionError`` on a violation. O(n).

        Static: sorted keys, aligned nodes, every slot the largest key of its
        child, padding, level sizes. Dynamic: additionally uniform leaf depth,
        node fill bounds, exact subtree sizes, leaf chain, free lists.
        """
        from ._bptree_check import check_dynamic, check_static
        if self._pools is None:
            check_static(self._keys, self._seps, self._meta, self._pad)
        else:
            check_dynamic(self._pools, self._pad)
