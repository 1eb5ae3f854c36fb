"""Invariant checks of :class:`~baselines.BPlusTree` (tests and debugging), in numpy. O(n)."""
import numpy as np

from . import _bptree_dynamic as _dyn
from . import _bptree_static as _static


def check_static(keys, seps, meta, pad):
    """Static layout: level sizes, aligned nodes, slots = largest key of each child, padding."""
    n = keys.shape[0]
    assert np.all(keys[1:] >= keys[:-1]), "keys not sorted"
    h, B, F, L = (int(v) for v in meta[:_static.M_LEVELS])
    offs = meta[_static.M_LEVELS:_static.M_LEVELS + h]
    counts = meta[_static.M_LEVELS + h:_static.M_LEVELS + 2 * h + 1]
    n_leaves = int(counts[-1])
    assert n_leaves == -(-n // L), "leaf count"
    assert list(counts[:-1]) == _static.level_counts(n_leaves, F), "level sizes"
    assert np.array_equal(offs, np.concatenate([[0], np.cumsum(counts[:-1])])[:h]), "level offsets"
    assert seps.shape[0] == int(counts[:-1].sum()) * B and seps.dtype == keys.dtype
    assert seps.ctypes.data % 64 == 0 or seps.shape[0] == 0, "nodes not 64-byte aligned"
    assert 1 <= L <= B and 2 <= F <= B
    grid = seps.reshape(-1, B)
    assert np.all(grid[:, F:] == pad), "padding beyond the fanout"
    assert np.all(grid[:, 1:] >= grid[:, :-1]), "node not sorted"
    largest = keys[np.minimum(np.arange(1, n_leaves + 1) * L, n) - 1]
    for lv in range(h - 1, -1, -1):
        nodes = grid[offs[lv]:offs[lv] + counts[lv], :F].reshape(-1)
        m = largest.shape[0]
        assert np.array_equal(nodes[:m], largest), f"level {lv}: slot is not its child's largest key"
        assert np.all(nodes[m:] == pad), f"level {lv}: padding"
        largest = nodes[np.minimum(np.arange(1, counts[lv] + 1) * F, m) - 1]
    assert h == 0 or largest.shape[0] == 1, "more than one root"


def _free_list(link, stride, head):
    out = []
    while head >= 0:
        out.append(head)
        head = int(link[head * stride])
        assert len(out) <= link.shape[0], "free list cycle"
    return out


def check_dynamic(p, pad):
    """Dynamic tree: uniform leaf depth, fill bounds, exact slots and sizes, leaf chain, free lists."""
    m = p.meta
    B, h, n = int(m[_dyn.NODE]), int(m[_dyn.HEIGHT]), int(m[_dyn.N])
    min_leaf, min_inner = int(m[_dyn.MIN_LEAF]), int(m[_dyn.MIN_INNER])
    assert 1 <= min_leaf <= max(1, B // 2) and 2 <= min_inner <= B // 2
    ik, ic, isz = (a.reshape(-1, B) for a in (p.ik, p.ic, p.isz))
    lk = p.lk.reshape(-1, B)
    assert p.lk.ctypes.data % 64 == 0 and p.ik.ctypes.data % 64 == 0, "pools not aligned"
    col = np.arange(B)
    level, levels = np.array([m[_dyn.ROOT]]), []
    for depth in range(h):                 # top-down: every path has exactly h inner nodes
        cnt = p.icnt[level]
        low = 2 if depth == 0 else min_inner
        assert np.all((cnt >= low) & (cnt <= B)), f"inner fill out of [{low}, {B}] at depth {depth}"
        used = col < cnt[:, None]
        K, C, S = ik[level], ic[level], isz[level]
        assert np.all(K[~used] == pad) and np.all(C[~used] == -1) and np.all(S[~used] == 0), "padding"
        assert np.all(K[:, 1:] >= K[:, :-1]), "inner node not sorted"
        levels.append((level, K[used], S[used]))
        level = C[used]
    leaves = level
    cnt = p.lc[leaves]
    if h:
        assert np.all((cnt >= min_leaf) & (cnt <= B)), f"leaf fill out of [{min_leaf}, {B}]"
    else:
        assert 0 <= cnt[0] <= B
    used = col < cnt[:, None]
    L = lk[leaves]
    assert np.all(L[~used] == pad), "leaf padding"
    keys = L[used]
    assert keys.shape[0] == n, "key count"
    assert np.all(keys[1:] >= keys[:-1]), "keys not sorted across leaves"
    assert leaves[0] == m[_dyn.HEAD] and np.array_equal(p.ln[leaves[:-1]], leaves[1:]) \
        and p.ln[leaves[-1]] == -1, "leaf chain out of order"
    child_max = np.where(cnt > 0, L[np.arange(len(leaves)), np.maximum(cnt - 1, 0)], pad)
    child_size = cnt
    for ids, K, S in reversed(levels):     # bottom-up: slots and sizes match the children
        assert np.array_equal(K, child_max), "slot is not its child's largest key"
        assert np.array_equal(S, child_size), "subtree size"
        c = p.icnt[ids]
        ends = np.cumsum(c)
        child_max = K[ends - 1]
        child_size = np.add.reduceat(S, ends - c)
    inner_ids = np.concatenate([lv[0] for lv in levels]) if levels else np.zeros(0, np.int64)
    free_l = _free_list(p.ln, 1, int(m[_dyn.FREE_L]))
    free_i = _free_list(p.ic, B, int(m[_dyn.FREE_I]))
    assert len(free_l) == m[_dyn.N_FREE_L] and len(free_i) == m[_dyn.N_FREE_I], "free counts"
    all_l = np.concatenate([leaves, free_l]).astype(np.int64)
    all_i = np.concatenate([inner_ids, free_i]).astype(np.int64)
    assert np.array_equal(np.sort(all_l), np.arange(m[_dyn.LEAF_HWM])), "leaf ids lost or shared"
    assert np.array_equal(np.sort(all_i), np.arange(m[_dyn.INNER_HWM])), "inner ids lost or shared"
