"""LearnedKV files (docs/format.md): round trips, atomic saves interrupted at every
stage, corrupted / truncated / foreign / wrong-version files, crafted model blobs,
and memory-mapped loading.
"""
import json
import mmap
import os
import struct
import zlib

import numpy as np
import pytest

from learned_index import LearnedIndex, LearnedKV, _storage

STAGES = ("open", "header", "meta", "part:keys", "part:values", "part:model", "part:starts",
          "part:delta_keys", "part:delta_live", "part:delta_values", "fsync", "replace", "dirsync")


def make_kv(n=3000, seed=0, pending=True, vdt=np.float64):
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, 2**64, n, dtype=np.uint64))
    kv = LearnedKV(keys, (keys % 1000).astype(vdt), compact_min=10**6)
    if pending:
        new = rng.integers(0, 2**64, 50, dtype=np.uint64)
        kv.update(new, np.arange(50).astype(vdt))
        kv.delete_many(keys[::97])
    return kv


def dump(kv):
    k, v = kv.range(None, None)
    return k.tolist(), v.tolist(), len(kv)


def probe(kv, seed=1):
    rng = np.random.default_rng(seed)
    k, _ = kv.range(None, None)
    q = np.concatenate([k[rng.integers(0, max(len(k), 1), 500)] if len(k) else k,
                        rng.integers(0, 2**64, 500, dtype=np.uint64)])
    return kv.get_many(q)


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("mmap_", [True, False])
@pytest.mark.parametrize("pending", [True, False])
def test_round_trip(tmp_path, mmap_, pending):
    kv = make_kv(pending=pending)
    p = tmp_path / "a.lkv"
    kv.save(p)
    got = LearnedKV.load(p, mmap=mmap_)
    assert dump(got) == dump(kv)
    for a, b in zip(probe(got), probe(kv)):
        assert np.array_equal(a, b)
    assert got._state.nlog == (kv._state.view.keys.shape[0] if pending else 0)
    assert got.index.stages_ == kv.index.stages_
    # bitwise: a record's packed int32 pair can read as a float64 NaN
    assert np.array_equal(got.index.model_.view(np.uint64), kv.index.model_.view(np.uint64))
    got.index._check()
    assert got.index.stats()["n_keys"] == len(got.index)
    got[5] = 5.0                                  # a loaded store takes writes and compacts
    del got[kv.range(None, None)[0][0].item()]
    want = dump(got)
    got.compact()
    assert dump(got) == want


@pytest.mark.parametrize("kdt, vdt", [
    (np.int32, np.int8), (np.float64, "S5"), (np.int64, np.dtype([("a", "<i2"), ("b", ">f4")])),
    (np.uint32, np.complex64)])
def test_round_trip_dtypes(tmp_path, kdt, vdt):
    keys = np.array([5, -3, 7, 0], np.int64)
    keys = keys - keys.min() if np.dtype(kdt).kind == "u" else keys
    vals = np.zeros(4, vdt)
    kv = LearnedKV(keys.astype(kdt), vals, compact_min=100)
    kv[100] = np.ones(1, vdt)[0]
    p = tmp_path / "d.lkv"
    kv.save(p)
    got = LearnedKV.load(p)
    assert got.dtype == np.dtype(kdt) and got.value_dtype == np.dtype(vdt)
    assert dump(got) == dump(kv)


def test_empty_store_round_trip(tmp_path):
    kv = LearnedKV(dtype=np.int64, value_dtype=np.int16)
    kv.save(tmp_path / "e")
    got = LearnedKV.load(tmp_path / "e")
    assert len(got) == 0 and list(got) == [] and got.dtype == np.int64
    got[3] = 4
    assert dict(got.items()) == {3: 4}


def test_index_options_survive(tmp_path):
    kv = LearnedKV(np.arange(1000, dtype=np.int64), np.zeros(1000),
                   index_options={"stages": ("radix", "linear"), "search": "exponential"},
                   compact_fraction=0.5, compact_min=7)
    kv.save(tmp_path / "o")
    got = LearnedKV.load(tmp_path / "o")
    assert got.index.stages_ == ("radix", "linear") and got.index.search_ == "exponential"
    assert (got.compact_fraction, got.compact_min) == (0.5, 7)
    got[2000] = 1.0
    got.compact()
    assert got.index.stages_ == ("radix", "linear")


def test_index_size_cap_survives(tmp_path):
    keys = np.arange(0, 60_000, 3, dtype=np.uint64) ** 2
    kv = LearnedKV(keys, keys.astype(np.float64), index_options={"max_bytes": 20_000})
    assert kv.index.stats()["auto"] and kv.index.nbytes <= 20_000
    kv.save(tmp_path / "c")
    got = LearnedKV.load(tmp_path / "c")
    got[np.uint64(7)] = 1.0
    got.compact()
    assert got.index.stats()["auto"] and got.index.nbytes <= 20_000
    assert got[np.uint64(7)] == 1.0 and got[keys[5]] == float(keys[5])


@pytest.mark.skipif("max_window" not in LearnedIndex.__init__.__code__.co_varnames,
                    reason="this LearnedIndex has no fence leaves")
@pytest.mark.parametrize("max_window", [0, 256])      # fence spans of one and four lines
def test_fence_leaves_round_trip(tmp_path, max_window):
    rng = np.random.default_rng(2)
    keys = np.unique(rng.lognormal(0, 3, 20_000) * 1e6).astype(np.uint64)
    keys = np.unique(keys)
    options = {"max_window": max_window, "n_leaves": 16, "stages": ("linear", "linear")}
    kv = LearnedKV(keys, keys.astype(np.float64), index_options=options)
    assert kv.index.stats().get("fence_leaves", 0) > 0
    kv.save(tmp_path / "f")
    got = LearnedKV.load(tmp_path / "f")
    got.index._check()
    assert got.index.stats() == {**kv.index.stats(), "build_seconds": 0.0}
    for a, b in zip(probe(got), probe(kv)):
        assert np.array_equal(a, b)


# --------------------------------------------------------------------------- crash safety

@pytest.mark.parametrize("stage", STAGES)
def test_interrupted_save_keeps_last_good_file(tmp_path, monkeypatch, stage):
    p = tmp_path / "s.lkv"
    kv = make_kv(seed=3)
    kv.save(p)
    good = dump(LearnedKV.load(p))
    kv.update(np.array([1, 2, 3], np.uint64), np.array([1.0, 2.0, 3.0]))
    kv.compact()
    new = dump(kv)
    assert new != good

    def crash(name):
        if name == stage:
            raise KeyboardInterrupt(f"crash at {name}")

    monkeypatch.setattr(_storage, "_fault", crash)
    with pytest.raises(KeyboardInterrupt):
        kv.save(p)
    monkeypatch.setattr(_storage, "_fault", None)
    after = dump(LearnedKV.load(p, mmap=False))
    assert after == (new if stage in ("replace", "dirsync") else good)
    assert os.listdir(tmp_path) == ["s.lkv"]          # no temporary left behind


def test_save_over_a_mapped_file(tmp_path):
    p = tmp_path / "m.lkv"
    kv = make_kv()
    kv.save(p)
    mapped = LearnedKV.load(p, mmap=True)
    before = dump(mapped)
    mapped[7] = 7.0
    mapped.save(p)                                    # replaces the file it maps
    assert dump(mapped) == dump(LearnedKV.load(p))
    assert before != dump(mapped)


# --------------------------------------------------------------------------- damaged files

def saved(tmp_path, **kw):
    p = tmp_path / "c.lkv"
    make_kv(**kw).save(p)
    return p, bytearray(p.read_bytes())


def regions(data):
    """Byte offsets inside every region of a file: header, metadata, each part."""
    mlen = struct.unpack_from("<Q", data, 24)[0]
    meta = json.loads(bytes(data[64:64 + mlen]))
    out = {"magic": 0, "version": 8, "header": 40, "meta": 64 + mlen // 2}
    for name, part in meta["parts"].items():
        if part["nbytes"]:
            out[name] = part["offset"] + part["nbytes"] // 3
    return out, meta


def load_all_ways(p):
    for mm in (True, False):
        with pytest.raises(ValueError):
            LearnedKV.load(p, mmap=mm)


def test_flipped_bytes_are_detected(tmp_path):
    p, data = saved(tmp_path)
    offsets, _ = regions(data)
    assert {"keys", "values", "model", "starts", "delta_keys", "delta_live"} <= set(offsets)
    for name, off in offsets.items():
        for bit in (0, 7):
            bad = bytearray(data)
            bad[off] ^= 1 << bit
            p.write_bytes(bad)
            load_all_ways(p)
    p.write_bytes(data)
    LearnedKV.load(p)


def test_truncated_and_extended_files(tmp_path):
    p, data = saved(tmp_path)
    for size in (0, 1, 7, 8, 30, 63, 64, 100, len(data) // 2, len(data) - 64, len(data) - 1):
        p.write_bytes(data[:size])
        load_all_ways(p)
    p.write_bytes(data + b"\x00")
    load_all_ways(p)


def test_swapped_parts(tmp_path):
    p, data = saved(tmp_path)
    _, meta = regions(data)
    k, v = meta["parts"]["keys"], meta["parts"]["values"]
    assert k["nbytes"] == v["nbytes"]
    bad = bytearray(data)
    bad[k["offset"]:k["offset"] + k["nbytes"]] = data[v["offset"]:v["offset"] + v["nbytes"]]
    bad[v["offset"]:v["offset"] + v["nbytes"]] = data[k["offset"]:k["offset"] + k["nbytes"]]
    p.write_bytes(bad)
    load_all_ways(p)


def rewrite_meta(data, edit):
    """Apply ``edit`` to the metadata and fix every checksum (a crafted, "valid" file)."""
    mlen = struct.unpack_from("<Q", data, 24)[0]
    meta = json.loads(bytes(data[64:64 + mlen]))
    edit(meta)
    parts = meta.get("parts")
    room = min(part["offset"] for part in parts.values()) - 64 if parts else mlen
    blob = json.dumps(meta, sort_keys=True).encode()
    if len(blob) > room:
        blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    assert len(blob) <= room
    out = bytearray(data)
    out[64:64 + room] = blob.ljust(room, b"\x00")
    struct.pack_into("<Q", out, 24, len(blob))
    struct.pack_into("<I", out, 32, zlib.crc32(blob))
    struct.pack_into("<I", out, 60, zlib.crc32(bytes(out[:60])))
    return out


def with_version(data, version):
    """A saved store's bytes with another format version (and a matching header CRC)."""
    out = bytearray(data)
    struct.pack_into("<I", out, 8, version)
    struct.pack_into("<I", out, 60, zlib.crc32(bytes(out[:60])))
    return bytes(out)


def test_wrong_version_and_foreign_files(tmp_path):
    p, data = saved(tmp_path)
    for other in (1, _storage.VERSION + 1):     # older (fence areas without a span) and newer
        p.write_bytes(with_version(data, other))
        with pytest.raises(ValueError, match=f"version {other}"):
            LearnedKV.load(p)
    np.save(tmp_path / "x.npy", np.arange(10))
    (tmp_path / "t.txt").write_text("hello world " * 20)
    (tmp_path / "r.bin").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "m.bin").write_bytes(_storage.MAGIC + np.random.default_rng(1).bytes(5000))
    for name in ("x.npy", "t.txt", "r.bin", "m.bin"):
        load_all_ways(tmp_path / name)
    p.write_bytes(rewrite_meta(data, lambda m: m.update(format="something-else")))
    with pytest.raises(ValueError, match="not a LearnedKV store"):
        LearnedKV.load(p)


@pytest.mark.parametrize("edit", [
    lambda m: m["parts"]["keys"].update(offset=m["parts"]["keys"]["offset"] + 64),
    lambda m: m["parts"]["values"].update(offset=m["parts"]["keys"]["offset"]),
    lambda m: m["parts"]["keys"].update(dtype="<i8"),
    lambda m: m["parts"]["values"].update(dtype="|O"),
    lambda m: m["parts"]["model"].update(shape=[3]),
    lambda m: m.update(value_dtype="|O"),
    lambda m: m.update(key_dtype="<f4"),
    lambda m: m["index"].update(stages=["nonsense", "linear"]),
    lambda m: m["index"].update(n_leaves=m["index"]["n_leaves"] + 1),
    lambda m: m["options"].update(index_options={"evil": 1}),
    lambda m: m["parts"].pop("starts"),
    lambda m: m.pop("index"),
])
def test_inconsistent_metadata_with_valid_checksums(tmp_path, edit):
    p, data = saved(tmp_path)
    p.write_bytes(rewrite_meta(data, edit))
    load_all_ways(p)


def test_crafted_model_blob_never_reads_out_of_bounds(tmp_path):
    """A model rewritten with valid checksums either fails validation or stays exact."""
    p, data = saved(tmp_path, pending=False)
    _, meta = regions(data)
    part = meta["parts"]["model"]
    model = np.frombuffer(bytes(data[part["offset"]:part["offset"] + part["nbytes"]]), "<f8").copy()
    kv = LearnedKV.load(p)
    ref = probe(kv)

    def write_model(m):
        out = bytearray(data)
        out[part["offset"]:part["offset"] + part["nbytes"]] = m.tobytes()
        crc = zlib.crc32(m.tobytes())
        return rewrite_meta(out, lambda mm: mm["parts"]["model"].update(crc32=crc))

    from learned_index import rmi
    leaf_off = int(model[rmi.H_LEAF_OFF])
    for field, value in [(rmi.H_LEAF_OFF, 1e12), (rmi.H_N_LEAVES, 5), (rmi.H_ROOT_FORM, 9),
                         (rmi.H_LEAF_W, 1), (rmi.H_N, 1.5)]:
        m = model.copy()
        m[field] = value
        p.write_bytes(write_model(m))
        load_all_ways(p)
    from learned_index import compact
    from learned_index.models import FORM_COMPACT
    m = model.copy()
    if int(m[rmi.H_LEAF_FORM]) == FORM_COMPACT:               # a fence leaf past the blob
        compact.set_code(m.view(np.int32), leaf_off + 4, compact.FENCE_CODE)
        m.view(np.uint64)[leaf_off + 4] = m.size
    else:
        m.view(np.int32)[2 * (leaf_off + 4) + 2] = -5             # negative window
    p.write_bytes(write_model(m))
    load_all_ways(p)
    assert int(model[rmi.H_MID_FORM]) == FORM_COMPACT and int(model[rmi.H_N_MID]) >= 3
    mid_off = int(model[rmi.H_MID_OFF])
    for r, c0 in ((1, int(model[rmi.H_N_LEAVES])), (2, -1), (0, 10**6)):
        m = model.copy()            # a middle record routing past the leaves, or backwards
        m.view(np.int32)[2 * (mid_off + compact.WIDTH * r) + 2] = c0
        p.write_bytes(write_model(m))
        load_all_ways(p)
    m = model.copy()
    m[leaf_off + 2:leaf_off + 4] = [1e9, -3.0]                     # a wrong (but in-bounds) model
    m.view(np.int32)[2 * leaf_off + 2] = 0
    p.write_bytes(write_model(m))
    bad = LearnedKV.load(p)
    for a, b in zip(probe(bad), ref):
        assert np.array_equal(a, b)


def test_unsorted_keys_with_valid_checksums(tmp_path):
    p, data = saved(tmp_path, pending=False)
    _, meta = regions(data)
    part = meta["parts"]["keys"]
    o = part["offset"]
    keys = np.frombuffer(bytes(data[o:o + part["nbytes"]]), "<u8").copy()
    keys[[3, 4]] = keys[[4, 3]]
    out = bytearray(data)
    out[o:o + part["nbytes"]] = keys.tobytes()
    out = rewrite_meta(out, lambda m: m["parts"]["keys"].update(crc32=zlib.crc32(keys.tobytes())))
    p.write_bytes(out)
    with pytest.raises(ValueError, match="sorted"):
        LearnedKV.load(p)


# --------------------------------------------------------------------------- mmap

def _mapped(a):
    while a is not None and not isinstance(a, mmap.mmap):
        a = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
    return a is not None


def test_mmap_load_is_zero_copy_and_lazy(tmp_path):
    p, data = saved(tmp_path, n=20_000)
    kv = LearnedKV.load(p)
    keys_part = regions(data)[1]["parts"]["values"]
    assert _mapped(LearnedKV.load(p, mmap=True).index.keys)
    assert not _mapped(LearnedKV.load(p, mmap=False).index.keys)
    # Damage a value the probes never read: verify=False does not read the values part.
    bad = bytearray(data)
    bad[keys_part["offset"] + keys_part["nbytes"] - 1] ^= 0xFF
    p.write_bytes(bad)
    with pytest.raises(ValueError, match="checksum"):
        LearnedKV.load(p, mmap=True)
    lazy = LearnedKV.load(p, mmap=True, verify=False)
    assert _mapped(lazy.index.keys) and _mapped(lazy._state.base.values)
    q = lazy.range(None, None)[0][:-1]
    a, b = lazy.get_many(q), kv.get_many(q)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not lazy.index.keys.flags.writeable


def test_save_refuses_object_values(tmp_path):
    kv = LearnedKV(np.array([1], np.int64), np.array([object()], dtype=object))
    with pytest.raises(TypeError, match="fixed-size"):
        kv.save(tmp_path / "o.lkv")
    assert os.listdir(tmp_path) == []
