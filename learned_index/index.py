"""``LearnedIndex``: the public face of the recursive model index."""
import functools
import numbers

import numba
import numpy as np

from . import _coerce, batch, fences, rmi, train, tune
from .models import LEAF_FAMILIES, ROOT_FAMILIES
from .search import SEARCH_KINDS

DEFAULT_STAGES = ("linear", "linear", "linear")
DEFAULT_SEARCH = "branchless"


def default_n_leaves(n):
    """Leaves for ``n`` keys: about 64 keys per leaf, at most 2**16 (1 MiB of compact linear leaves)."""
    return int(min(max(n // 64, 1), 2**16))


class LearnedIndex:
    """A recursive model index (RMI) over a sorted key array, with exact lookups.

    Models predict where a key sits; a search inside the leaf's signed error
    window, verified at its two ends, returns exactly what
    ``np.searchsorted(keys, q)`` returns, for present and absent keys alike.

    Without a configuration (or with ``stages="auto"``) the index configures
    itself: a cost model chooses the stages, ``n_leaves`` and fence leaves
    within ``max_bytes`` (4 MB by default), from windows measured on a sample
    of leaves (:func:`learned_index.tune.auto_config`; under a second at
    10**7 keys). Below 2**14 keys a rule configures it instead: three linear
    stages with one leaf per 4 keys, within ``max_bytes``
    (:func:`learned_index.tune.small_config`). Whenever any of ``stages``,
    ``n_leaves``, ``n_mid`` or ``max_window`` is given, the fixed defaults
    below fill in the rest. :func:`learned_index.tune.tune` searches wider
    and confirms its choice by timing lookups. The configuration in use is
    in :meth:`stats`.

    Parameters
    ----------
    keys : array_like
        1-D keys: uint64, int64, uint32, int32 or float64 (smaller integer and
        float dtypes are widened). Unsorted input is sorted into a copy;
        sorted, contiguous input is used without a copy (do not modify it
        afterwards). Duplicates are allowed. NaN raises ``ValueError``.
    stages : tuple of str or "auto", optional
        ``(root, leaf)`` or ``(root, middle, leaf)``. Root families: linear,
        robust_linear, linear_spline, cubic, radix, loglinear, mlp. Middle and leaf families:
        linear, linear_spline, cubic. Fixed default: three linear stages.
    n_leaves : int, optional
        Number of leaf models (fixed default: about one per 64 keys, at most 2**16).
    search : {"binary", "branchless", "exponential", "linear"}, optional
        Last-mile search inside the error window (default ``"branchless"``).
    n_mid : int, optional
        Middle-stage models of a 3-stage index (default: ``n_leaves // 2``).
    parallel : bool
        Split array queries across threads (numba ``prange``).
    mlp_hidden : tuple of int
        Hidden layer sizes of an ``mlp`` root (0-2 layers, width <= 32).
    seed : int
        Seed of the ``mlp`` root's training.
    max_window : int or None, optional
        The hybrid index: a leaf whose error window is wider than this many
        keys after training is replaced by a *fence leaf*, a one-level B-tree
        over its keys (see :mod:`learned_index.fences`), so that no lookup
        searches more than one cache line of keys after the fences. None
        (default) keeps every leaf's model.
    max_bytes : int or float, optional
        Size cap of the automatically configured index (default 4 MB; see
        :data:`learned_index.tune.DEFAULT_MAX_BYTES`), a positive finite
        number of bytes. The cost model's fastest configuration within it is
        built, and ``nbytes`` does not exceed it. Caps under the default's
        also try coarser leaf counts (down to 16 leaves). Not with
        ``stages``, ``n_leaves``, ``n_mid`` or ``max_window``. Raises
        ``ValueError`` when no index over the keys fits.
        :func:`learned_index.tune.tune` also times candidates, and without a
        cap weighs memory against speed.

    Notes
    -----
    Queries of another dtype than the keys are compared exactly (``-1`` is
    below every ``uint64`` key, ``2**64`` above, ``3.5`` lies between 3 and 4),
    a Python list element by element (``[2**64 - 1, 0]``, which numpy alone
    would round to float64). NaN or non-numeric queries raise. Build is O(n) after sorting; a lookup is
    O(1) model evaluation plus O(log w) for an error window of w keys.

    Examples
    --------
    >>> import numpy as np
    >>> from learned_index import LearnedIndex
    >>> keys = np.array([3, 5, 5, 9, 12], dtype=np.uint64)
    >>> idx = LearnedIndex(keys)
    >>> idx.lower_bound(5), idx.upper_bound(5), idx.lower_bound(100)
    (1, 3, 5)
    >>> idx.lower_bound(np.array([0, 9, 10], dtype=np.uint64))
    array([0, 3, 4])
    >>> idx.contains(9), idx.range(4, 10)
    (True, (1, 4))
    >>> many = np.arange(0, 3 * 10**5, 3, dtype=np.uint64)
    >>> capped = LearnedIndex(many, max_bytes=20_000)
    >>> capped.nbytes <= 20_000, capped.lower_bound(30), capped.stats()["auto"]
    (True, 10, True)
    """

    def __init__(self, keys, stages=None, n_leaves=None, search=None, n_mid=None,
                 parallel=False, mlp_hidden=(16,), seed=0, max_window=None, max_bytes=None):
        arr = _coerce.as_keys(keys)
        auto = stages == "auto" or (stages, n_leaves, n_mid, max_window) == (None,) * 4
        cap = tune.DEFAULT_MAX_BYTES
        if max_bytes is not None:
            if not auto:
                raise ValueError("max_bytes caps the automatic configuration; it cannot be "
                                 "combined with stages, n_leaves, n_mid or max_window")
            cap = _budget(max_bytes)
        cfg = None
        if auto:
            cfg = tune.auto_config(arr, cap)
            if cfg is None and arr.shape[0] >= tune.MIN_TUNE:
                raise ValueError(f"no index over {arr.shape[0]:,} keys fits in "
                                 f"max_bytes={cap:,.0f}")
            rule = cfg or tune.small_config(arr.shape[0], cap)      # below MIN_TUNE keys
            stages, n_leaves, n_mid, max_window = (
                rule[k] for k in ("stages", "n_leaves", "n_mid", "max_window"))
        # fence areas are estimated: the built ones must fit the cap too
        budget = cap if cfg is not None else None
        stages = tuple(stages) if stages is not None else DEFAULT_STAGES
        if len(stages) not in (2, 3):
            raise ValueError(f"stages must have 2 or 3 entries, got {stages!r}")
        if stages[0] not in ROOT_FAMILIES:
            raise ValueError(f"unknown root family {stages[0]!r}; choose from {ROOT_FAMILIES}")
        for family in stages[1:]:
            if family not in LEAF_FAMILIES:
                raise ValueError(f"unknown leaf family {family!r}; choose from {LEAF_FAMILIES}")
        search = DEFAULT_SEARCH if search is None else search
        if search not in SEARCH_KINDS:
            raise ValueError(f"unknown search {search!r}; choose from {tuple(SEARCH_KINDS)}")
        n = arr.shape[0]
        n_leaves = default_n_leaves(n) if n_leaves is None else _positive(n_leaves, "n_leaves")
        if max_window is not None:
            max_window = _positive(max_window, "max_window", minimum=0)
        if len(stages) == 3:
            n_mid = max(1, n_leaves // 2) if n_mid is None else _positive(n_mid, "n_mid")
        else:
            n_mid = 0
        self.keys_ = arr
        self.stages_ = stages
        self.search_ = search
        self.parallel_ = bool(parallel)
        self._kind = SEARCH_KINDS[search]
        self._ktype = arr.dtype.type
        self._is_float = arr.dtype.kind == "f"
        if n:
            self.model_, info = train.build(arr, stages, n_leaves, n_mid, tuple(mlp_hidden), seed,
                                            max_window, budget)
        else:
            self.model_, info = train._aligned_zeros(rmi.HEADER), {
                "starts": np.zeros(1, np.int64), "bent": 0, "max_window": max_window,
                "build_seconds": 0.0}
        self.n_leaves_ = n_leaves if n else 0
        self.n_mid_ = n_mid if n else 0
        self.max_window_ = info.pop("max_window")
        self.auto_ = cfg is not None
        if max_bytes is not None and self.nbytes > cap:     # a cap below small_config's one leaf
            raise ValueError(f"the index over {n:,} keys takes {self.nbytes:,} bytes, "
                             f"above max_bytes={cap:,.0f}")
        self._info = info
        self._bind_scalar_kernels()

    @classmethod
    def _from_parts(cls, keys, model, starts, stages, search, n_leaves, n_mid, parallel,
                    max_window=None, info=None):
        """An index over sorted ``keys`` from a trained model blob (no training; for loading).

        The caller vouches for the blob (``learned_index._storage`` checks a
        saved one before it gets here). ``starts`` is the leaf table of
        :meth:`stats` (first key of each leaf, then n).
        """
        idx = cls(keys[:0], stages=stages, search=search, parallel=parallel, max_window=max_window)
        idx.keys_ = _coerce.frozen(keys)
        idx.model_ = model
        idx.n_leaves_ = n_leaves
        idx.n_mid_ = n_mid
        idx._info = dict(info or {}, starts=np.array(starts, np.int64), build_seconds=0.0)
        idx._info.setdefault("bent", 0)
        idx._bind_scalar_kernels()
        return idx

    def _with_search(self, search):
        """A copy that shares keys and model but searches its windows with ``search``."""
        twin = object.__new__(LearnedIndex)
        twin.__dict__.update({k: v for k, v in self.__dict__.items()
                              if k not in ("lower_bound", "upper_bound", "contains")})
        twin.search_ = search
        twin._kind = SEARCH_KINDS[search]
        twin._bind_scalar_kernels()
        return twin

    # ------------------------------------------------------------------ properties
    @property
    def keys(self):
        """The sorted keys (read-only view)."""
        return self.keys_

    @property
    def nbytes(self):
        """Bytes of the index structure itself (models, bounds), keys excluded."""
        return int(self.model_.nbytes)

    def __len__(self):
        return int(self.keys_.shape[0])

    def __repr__(self):
        return (f"LearnedIndex(n={len(self)}, dtype={self.keys_.dtype}, stages={self.stages_}, "
                f"n_leaves={self.n_leaves_}, search={self.search_!r})")

    # ------------------------------------------------------------------ lookups
    def _bind_scalar_kernels(self):
        """Install the fast scalar fronts of ``lower_bound``, ``upper_bound`` and ``contains``.

        A plain scalar (Python int or float, or a scalar of the key dtype) goes
        straight to the compiled entry point of the scalar kernel, which skips
        numba's argument dispatch (it costs more than the lookup itself); the
        fronts are closures, so no attribute is looked up per call. Anything
        else takes the general path of the class methods. The fronts shadow
        the methods on the instance and answer exactly as they do.
        """
        keys, model, kind = self.keys_, self.model_, self._kind
        probe = self._ktype(0)
        general = _General(keys, model, kind, self.parallel_)
        handle = general.handle.ctypes.data
        bound = _entry_point(rmi.bound_at, (handle, probe, False))
        member = _entry_point(rmi.contains_at, (handle, probe, False))
        accept = (float if self._is_float else int, self._ktype)
        if self._is_float:
            limits = (-np.inf, np.inf)           # NaN fails the check and raises on the general path
        elif keys.dtype.itemsize < 8:            # the entry point would wrap narrow ints silently
            info = np.iinfo(keys.dtype)
            limits = (int(info.min), int(info.max))
        else:
            limits = None
        self.lower_bound = _front(bound, handle, False, accept, limits, general.lower)
        self.upper_bound = _front(bound, handle, True, accept, limits, general.upper)
        self.contains = _front(member, handle, False, accept, limits, general.contains)
        for name in ("lower_bound", "upper_bound", "contains"):
            functools.update_wrapper(self.__dict__[name], getattr(LearnedIndex, name))

    def lower_bound(self, q):
        """First position whose key is ``>= q``: ``np.searchsorted(keys, q, side="left")``.

        Parameters
        ----------
        q : int, float or array_like
            Query or queries.

        Returns
        -------
        int, or ndarray of int64 with the shape of ``q``.

        Runtime complexity: O(log w) per query for an error window of w keys.
        """
        return _General(self.keys_, self.model_, self._kind, self.parallel_).lower(q)

    def upper_bound(self, q):
        """First position whose key is ``> q``: ``np.searchsorted(keys, q, side="right")``.

        Runtime complexity: O(log w) per query.
        """
        return _General(self.keys_, self.model_, self._kind, self.parallel_).upper(q)

    def contains(self, q):
        """Whether ``q`` is a key (exact comparison): bool, or a bool array.

        Runtime complexity: O(log w) per query.
        """
        return _General(self.keys_, self.model_, self._kind, self.parallel_).contains(q)

    def range(self, lo, hi):
        """Positions ``(start, stop)`` such that ``keys[start:stop]`` are the keys in ``[lo, hi)``.

        An empty interval (``hi <= lo``) gives ``start == stop``.
        Runtime complexity: O(log w).
        """
        start = self.lower_bound(lo)
        stop = self.lower_bound(hi)
        return start, max(start, stop)

    def search(self, q):
        """The model's guess and window before the last-mile search: ``(pos, lo, hi)``.

        The exact lower bound lies in ``[lo, hi]`` (queries outside the key
        range are answered by a range check and get ``lo == hi``). Arrays of
        queries give three arrays.
        """
        qk, mask, value = _coerce.queries(q, self.keys_.dtype, _coerce.LEFT)
        out = np.empty((qk.shape[0], 3), dtype=np.int64)
        rmi.windows_many(self.keys_, self.model_, qk, out, False)
        if mask is not None:
            out[mask] = len(self) if value else 0
        if np.ndim(q) == 0:
            return tuple(int(v) for v in out[0])
        shape = np.shape(q)
        return tuple(out[:, i].reshape(shape) for i in range(3))

    # ------------------------------------------------------------------ introspection
    def _leaf_table(self):
        """Per-leaf ``(key count, window width, is a fence leaf)`` arrays.

        A fence leaf's width is that of its last-mile search (its span: one fence's keys).
        """
        counts = np.diff(self._info["starts"])
        if not self.n_leaves_:
            return counts, np.zeros(0, np.int64), np.zeros(0, bool)
        o, width = rmi.leaf_records(self.model_)
        fence = width == fences.FENCE_MARK
        areas = rmi.fence_areas(self.model_, o[fence])
        width[fence] = fences.spans(self.model_, areas)
        return counts, width, fence

    def stats(self):
        """Structure and quality of the index.

        Returns
        -------
        dict
            ``stages``, ``n_leaves``, ``n_mid``, ``search``, ``n_keys``, ``nbytes``,
            ``build_seconds``; ``empty_leaves``; window statistics over the keys,
            where a key's window is the search width of its leaf:
            ``mean_error``, ``max_error``, ``mean_log2_error``
            (mean of ``log2(window + 1)``, RMI's ``avg_log2_error``);
            ``bent_routes`` (keys whose computed route was not monotone; 0 for
            every family but a numerically wiggling cubic); the hybrid index's
            ``max_window``, ``fence_leaves`` (leaves replaced by fences),
            ``fence_keys`` (keys in them) and ``fence_span`` (keys per bottom
            fence, see :func:`.fences.fence_keys`; None without fence leaves).
            A fence leaf's window counts as one span. ``auto`` tells whether the cost model chose the
            configuration (False below 2**14 keys, for a given configuration
            and for a loaded index).
        """
        counts, width, fence = self._leaf_table()
        width = width.astype(np.float64)
        n = max(len(self), 1)
        used = counts > 0
        return {
            "stages": self.stages_, "n_leaves": self.n_leaves_, "n_mid": self.n_mid_,
            "auto": self.auto_, "search": self.search_, "n_keys": len(self), "nbytes": self.nbytes,
            "build_seconds": self._info["build_seconds"],
            "empty_leaves": int((~used).sum()) if self.n_leaves_ else 0,
            "mean_error": float((counts * width).sum() / n),
            "max_error": int(width[used].max()) if used.any() else 0,
            "mean_log2_error": float((counts * np.log2(width + 1)).sum() / n),
            "bent_routes": self._info["bent"],
            "max_window": self.max_window_,
            "fence_leaves": int(fence.sum()),
            "fence_keys": int(counts[fence].sum()) if self.n_leaves_ else 0,
            "fence_span": int(width[fence].max()) if fence.any() else None,
        }

    def _check(self):
        """Assert the structure's invariants; raises ``AssertionError`` on a violation.

        Checks that leaf key ranges tile the keys, that every key is routed to
        the leaf it was trained in, and that every key's lower and upper bound,
        and the bound of a query just above each leaf boundary, lie in the
        model's window. O(n).
        """
        keys = self.keys_
        n = len(self)
        assert np.all(keys[1:] >= keys[:-1]), "keys not sorted"
        if n == 0:
            return
        starts = self._info["starts"]
        assert starts[0] == 0 and starts[-1] == n and np.all(np.diff(starts) >= 0)
        pos, lo, hi = self.search(keys)
        first = np.searchsorted(keys, keys, side="left")
        last = np.searchsorted(keys, keys, side="right")
        assert np.all((lo <= first) & (first <= hi)), "a key's lower bound lies outside its window"
        upper = np.empty((n, 3), dtype=np.int64)
        rmi.windows_many(keys, self.model_, keys, upper, True)
        inside = (keys > keys[0]) & (keys < keys[-1])
        ok = (upper[:, 1] <= last) & (last <= upper[:, 2])
        assert np.all(ok | ~inside), "a key's upper bound lies outside its window"
        assert np.all((0 <= lo) & (lo <= pos) | (lo <= hi)) and np.all(hi <= n)


class _General:
    """The general query path: validation and coercion, then one batch kernel.

    Holds no reference to the index, so the fronts that fall back to it
    create no reference cycle.
    """

    def __init__(self, keys, model, kind, parallel):
        self.keys, self.model, self.kind = keys, model, kind
        self.handle = rmi.make_handle(keys, model, kind)
        self.kernel = batch.bound_many_parallel if parallel else batch.bound_many

    def _bound(self, q, mode):
        qk, mask, value = _coerce.queries(q, self.keys.dtype, mode)
        out = np.empty(qk.shape[0], dtype=np.int64)
        self.kernel(self.keys, self.model, qk, out, mode == _coerce.RIGHT, self.kind)
        if mask is not None:
            out[mask] = self.keys.shape[0] if value else 0
        shape = np.shape(q)
        return int(out[0]) if shape == () else out.reshape(shape)

    def lower(self, q):
        return self._bound(q, _coerce.LEFT)

    def upper(self, q):
        return self._bound(q, _coerce.RIGHT)

    def contains(self, q):
        qk, mask, _ = _coerce.queries(q, self.keys.dtype, _coerce.EXACT)
        out = np.empty(qk.shape[0], dtype=np.bool_)
        batch.contains_many(self.keys, self.model, qk, out, self.kind)
        if mask is not None:
            out[mask] = False
        shape = np.shape(q)
        return bool(out[0]) if shape == () else out.reshape(shape)


def _front(entry, handle, right, accept, limits, general):
    """A scalar front: ``entry(handle, q, right)`` for plain scalars, else ``general(q)``.

    ``handle`` is the address of ``general``'s handle array (see
    :func:`.rmi.make_handle`); ``general``, a bound method of
    :class:`_General`, holds that array and the keys and blob it points to,
    so they live as long as the front. ``accept`` are the two scalar types
    sent to the entry point. With ``limits`` None (64-bit integer keys) the
    entry point itself raises ``OverflowError`` on an int outside the key
    dtype, which then takes the general path; other scalars are
    range-checked first.
    """
    t1, t2 = accept
    if limits is None:
        def front(q):
            t = type(q)
            if t is t1 or t is t2:
                try:
                    return entry(handle, q, right)
                except OverflowError:
                    pass
            return general(q)
    else:
        kmin, kmax = limits

        def front(q):
            t = type(q)
            if (t is t1 or t is t2) and kmin <= q <= kmax:
                return entry(handle, q, right)
            return general(q)
    return front


def _entry_point(kernel, args):
    """Compile ``kernel`` for ``args`` if needed and return its compiled entry point."""
    kernel(*args)
    return kernel.overloads[tuple(numba.typeof(a) for a in args)].entry_point


def _budget(value):
    """``max_bytes`` checked: a positive finite real number (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or not 0 < float(value) < float("inf"):
        raise ValueError(f"max_bytes must be a positive finite number of bytes, got {value!r}")
    return float(value)


def _positive(value, name, minimum=1):
    v = int(value)
    if v < minimum or v != value:
        kind = "a positive" if minimum == 1 else f"an integer >= {minimum}, not an"
        raise ValueError(f"{name} must be {kind} integer, got {value!r}")
    return v
