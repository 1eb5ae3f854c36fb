"""The competitors of a run: named index configurations over :mod:`baselines` adapters.

Every entry of :data:`SPECS` builds one :class:`baselines.Adapter`. Names
and groups accepted by ``--indexes``:

``binary_search``
    ``np.searchsorted`` on the sorted array (SOSD's BinarySearch).
``bplustree16`` ... ``bplustree256`` (group ``bplustree``)
    this project's static B+tree at every node size.
``li_default``, ``li_fixed``, ``li_hybrid``, ``li_linear2``, ``li_radix``, ``li_cubic``, ``li_compact``
(group ``learned``: the hand-picked grid)
    :class:`learned_index.LearnedIndex`: the default ``LearnedIndex(keys)``
    (configured by the cost model within 4 MB,
    :func:`learned_index.tune.auto_config`), the fixed configuration
    (3-stage linear, about 64 keys per leaf), the same as a hybrid index
    (fence leaves where a window exceeds 64 keys), a 2-stage linear RMI, a
    radix root, a cubic root, and a compact 3-stage with one leaf per ~1024 keys.
``li_tuned`` (group ``tuned``, or ``--tune``)
    the index :func:`learned_index.tune.tune` chooses (build time includes
    the tuning).
``li_tuned_small`` (group ``tuned_small``)
    the same within ``max_bytes = n / 20`` (at least 16 kB): under a tenth
    of a node-16 B+tree's ``n / 15 * 8`` bytes, the size target of issue 6.
``li_budget_<b>`` (group ``budgets``)
    the default ``LearnedIndex(keys, max_bytes=...)`` within ``b`` bytes per
    key (at least 16 kB), for ``b`` in :data:`BUDGETS_PER_KEY`: the default's
    speed against its size, next to the B+tree's (0.025 B/key is about a
    tenth of a node-32 B+tree).
``li_search_<kind>`` (group ``search_kinds``, or ``--search-kinds``)
    the default stages with each last-mile search (binary, branchless,
    exponential, linear).
``sortedcontainers``, ``pygm``, ``btrees``, ``lmdb`` (group ``peers``)
    peer libraries; they have no batch API and are called once per query in
    a Python loop (fewer queries, see the profile's ``loop_lookups``).

``all`` is every group but ``search_kinds`` and ``budgets``.

>>> [s.name for s in resolve(["bplustree", "li_default"])][:2]
['bplustree16', 'bplustree32']
"""
from dataclasses import dataclass, field

from baselines import (BinarySearch, BPlusTreeAdapter, BTreesAdapter, LearnedIndexAdapter,
                       LMDBAdapter, PGMAdapter, SortedContainersAdapter, TunedLearnedIndexAdapter)
from baselines.bplustree import NODE_SIZES
from learned_index.search import SEARCH_KINDS


@dataclass(frozen=True)
class Spec:
    """One competitor: ``name`` (CLI), ``label`` (tables), ``family``, adapter class and options.

    ``options`` may hold callables of ``n`` (the number of keys), resolved
    at build time. ``family`` is one of ``binary``, ``bplustree``,
    ``learned``, ``tuned``, ``budget``, ``peer``; peers are ``loop`` (no batch API).
    """

    name: str
    label: str
    family: str
    cls: type
    options: dict = field(default_factory=dict)

    @property
    def loop(self):
        return self.family == "peer"

    def make(self, n):
        """A fresh adapter with the options resolved for ``n`` keys."""
        opts = {k: (v(n) if callable(v) else v) for k, v in self.options.items()}
        return self.cls(**opts)


#: bytes per key of the ``budgets`` group
BUDGETS_PER_KEY = (0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)


def budget(per_key):
    """A ``max_bytes`` rule of ``n``: ``per_key`` bytes per key, at least 16 kB.

    >>> budget(0.4)(10**7), budget(0.4)(1000)
    (4000000, 16384)
    """
    return lambda n: max(int(per_key * n), 16_384)


def small_budget(n):
    """``max_bytes`` of ``li_tuned_small`` for ``n`` keys: ``n / 20``, at least 16 kB."""
    return budget(0.05)(n)


def _specs():
    out = [Spec("binary_search", "np.searchsorted", "binary", BinarySearch)]
    out += [Spec(f"bplustree{b}", f"B+tree {b}", "bplustree", BPlusTreeAdapter, {"node_size": b})
            for b in NODE_SIZES]
    out += [
        Spec("li_default", "LI default (auto)", "learned", LearnedIndexAdapter),
        Spec("li_fixed", "LI fixed lin/lin/lin", "learned", LearnedIndexAdapter,
             {"stages": ("linear", "linear", "linear")}),
        Spec("li_hybrid", "LI hybrid lin/lin/lin", "learned", LearnedIndexAdapter,
             {"stages": ("linear", "linear", "linear"), "max_window": 64}),
        Spec("li_linear2", "LI lin/lin", "learned", LearnedIndexAdapter,
             {"stages": ("linear", "linear")}),
        Spec("li_radix", "LI radix/lin", "learned", LearnedIndexAdapter,
             {"stages": ("radix", "linear")}),
        Spec("li_cubic", "LI cubic/lin", "learned", LearnedIndexAdapter,
             {"stages": ("cubic", "linear")}),
        Spec("li_compact", "LI compact (n/1024 leaves)", "learned", LearnedIndexAdapter,
             {"n_leaves": lambda n: max(1, n // 1024)}),
    ]
    out += [Spec("li_tuned", "LI tuned", "tuned", TunedLearnedIndexAdapter),
            Spec("li_tuned_small", "LI tuned ≤ n/20 B", "tuned", TunedLearnedIndexAdapter,
                 {"max_bytes": small_budget})]
    out += [Spec(f"li_budget_{b}", f"LI ≤ {b} B/key", "budget", LearnedIndexAdapter,
                 {"max_bytes": budget(b)}) for b in BUDGETS_PER_KEY]
    out += [Spec(f"li_search_{k}", f"LI default, {k} search", "learned", LearnedIndexAdapter,
                 {"search": k}) for k in SEARCH_KINDS]
    out += [Spec("sortedcontainers", "sortedcontainers (loop)", "peer", SortedContainersAdapter),
            Spec("pygm", "PyGM (loop)", "peer", PGMAdapter),
            Spec("btrees", "BTrees (loop)", "peer", BTreesAdapter),
            Spec("lmdb", "LMDB (loop)", "peer", LMDBAdapter)]
    return {s.name: s for s in out}


#: every competitor by name
SPECS = _specs()

#: named groups of competitors
GROUPS = {
    "bplustree": [n for n in SPECS if n.startswith("bplustree")],
    "learned": ["li_default", "li_fixed", "li_hybrid", "li_linear2", "li_radix", "li_cubic",
                "li_compact"],
    "tuned": ["li_tuned"],
    "tuned_small": ["li_tuned_small"],
    "search_kinds": [n for n in SPECS if n.startswith("li_search_")],
    "budgets": [n for n in SPECS if n.startswith("li_budget_")],
    "peers": ["sortedcontainers", "pygm", "btrees", "lmdb"],
}
GROUPS["all"] = (["binary_search"] + GROUPS["bplustree"] + GROUPS["learned"] + GROUPS["tuned"]
                 + GROUPS["tuned_small"]
                 + GROUPS["peers"])


def resolve(names):
    """Specs for names and group names, in order, without repeats; unknown names raise ValueError."""
    out = []
    for name in names:
        if name in GROUPS:
            expanded = GROUPS[name]
        elif name in SPECS:
            expanded = [name]
        else:
            raise ValueError(f"unknown index {name!r}; choose from {sorted(SPECS)} "
                             f"or the groups {sorted(GROUPS)}")
        out += [n for n in expanded if n not in out]
    return [SPECS[n] for n in out]


def available(specs):
    """``(usable specs, notes)``: peers whose library is missing are dropped with a note."""
    usable, notes = [], []
    for s in specs:
        if s.cls.available():
            usable.append(s)
        else:
            notes.append(f"{s.label}: library {s.cls.requires!r} not installed, skipped")
    return usable, notes
