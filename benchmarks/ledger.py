"""Ledger proof latency at 1M and 10M leaves: inclusion and consistency proofs from stored tiles.

Filling a 10M-event ledger through the full ingest would take far longer than the proofs
being measured, so the tree is built directly: leaf ``i`` is the leaf hash of the 8-byte
big-endian counter ``i`` (``SHA-256(0x00 || i)``), fed in chunks into
``sentinelle.ledger.tiles.TreeBuilder``; completed tiles and the final partial tiles go into
the ``tiles`` table of a fresh SQLite store through ``store.writer()`` / ``put_tiles``, with
``set_ledger_size(n)``, exactly as an ingest writes them. Because leaves are counters, every
proof can be checked against hashes that do not come from the store: the leaf hash is
recomputed, the root is the builder's, and the old roots of consistency proofs are the
builder's roots recorded on the way (the build stops at each chosen old size). For trees up
to ``--check-root-max`` leaves the builder's root is also compared with
``merkle.root_hash`` of all leaves.

Then, for each size:

* **inclusion**: ``inclusion_proof(index, n, reader.subtree)`` for ``--proofs`` random
  indices, with ``reader = TileReader(store.fetch_tiles, size=n, cache=…)``;
* **consistency**: ``consistency_proof(m, n, reader.subtree)`` for as many random old sizes.

Each twice: *cold*, a fresh reader and an empty tile cache per proof (every tile read is a
database query, though the database file stays in the OS page cache); *warm*, a fresh reader
per proof sharing one ``TileCache`` (as ``Ledger`` does between requests), timed over new
random indices after a warm-up pass of as many proofs.
Every timed proof is verified (``verify_inclusion`` / ``verify_consistency``), outside the
timing.

* **pages of 100 proofs** (``--pages``, 0 to skip), what a merchant's accesses page costs:
  100 distinct leaves of a window of 40,000 (a merchant's share of the stream), the newest
  window or a random one, newest first; each page checked against the root, inside the
  timing, as ``Ledger.inclusion_proofs`` does. *One by one* is how that method worked
  before: the page's tiles prefetched in one round trip, then ``inclusion_proof`` with
  ``reader.subtree`` and ``verify_inclusion`` for each leaf. *Together* is how it works now:
  ``reader.inclusion_paths`` then ``verify_inclusions``. Both run on the same pages, one
  after the other (in turn first), with a fresh reader per page sharing one warm tile cache
  (cold: an empty cache per page, as after a restart); the two must give the same proofs. The proof times should stay flat from 1M to 10M leaves: a proof reads O(log n) tiles
(one per tile level on its path, plus the partial right-edge tiles) and hashes only the few
right-edge nodes.

With PostgreSQL (skip with ``--no-postgres``), the tiles of the sizes listed in
``--pg-sizes`` (default 1M) are copied into a fresh database of a throwaway cluster
(``tests/pgcluster.py``) and the same proofs are timed there.

Run::

    .venv/bin/python benchmarks/ledger.py                          # 1M and 10M leaves
    .venv/bin/python benchmarks/ledger.py --sizes 100000 --no-postgres

The last lines are Markdown table rows for the README.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from sentinelle.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
)
from sentinelle.ledger.tiles import TileCache, TileReader, TreeBuilder
from sentinelle.store.base import Store

REPO = Path(__file__).resolve().parents[1]


def _parse_sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def leaves(start: int, stop: int) -> list[bytes]:
    """Leaf hashes of the counters ``start .. stop-1`` (each an 8-byte big-endian leaf)."""
    sha = sha256
    return [sha(b"\x00" + i.to_bytes(8, "big")).digest() for i in range(start, stop)]


@dataclass
class Built:
    """A tree written to a store, with the builder's own roots to check proofs against."""

    size: int
    root: bytes
    old_roots: dict[int, bytes]
    leaf_seconds: float = 0.0
    tree_seconds: float = 0.0
    db_seconds: float = 0.0
    total_seconds: float = 0.0
    tiles: int = 0
    db_mb: float = 0.0


def build(store: Store, n: int, old_sizes: list[int], *, chunk: int, check_root_max: int) -> Built:
    """Feed ``n`` counter leaves into a TreeBuilder, writing tiles to ``store``."""
    builder = TreeBuilder()
    stops = sorted({m for m in old_sizes if 0 < m < n} | {n})
    wanted = set(old_sizes)
    built = Built(size=n, root=b"", old_roots={})
    reference: list[bytes] | None = [] if n <= check_root_max else None
    started = time.perf_counter()
    with store.writer() as w:
        pos = 0
        for stop in stops:
            while pos < stop:
                end = min(stop, pos + chunk)
                t0 = time.perf_counter()
                batch = leaves(pos, end)
                t1 = time.perf_counter()
                builder.extend(batch)
                t2 = time.perf_counter()
                built.leaf_seconds += t1 - t0
                built.tree_seconds += t2 - t1
                if reference is not None:
                    reference.extend(batch)
                pos = end
                if len(builder.completed) >= 256:
                    done = builder.take_completed()
                    w.put_tiles(done)
                    built.tiles += len(done)
                    built.db_seconds += time.perf_counter() - t2
            if stop in wanted:
                built.old_roots[stop] = builder.root()
        t2 = time.perf_counter()
        done = builder.take_completed() + builder.partial_tiles()
        w.put_tiles(done)
        w.set_ledger_size(n)
        built.tiles += len(done)
    built.db_seconds += time.perf_counter() - t2  # includes the commit
    built.total_seconds = time.perf_counter() - started
    built.root = builder.root()
    if reference is not None and root_hash(reference) != built.root:
        raise AssertionError(f"TreeBuilder root differs from merkle.root_hash at size {n}")
    return built


@dataclass
class Timing:
    """Latencies of one kind of proof, in seconds, and what each proof cost."""

    backend: str
    size: int
    proof: str
    cache: str
    seconds: list[float] = field(default_factory=list)
    fetches: int = 0
    hashes: int = 0
    verified: int = 0

    def ms(self, q: float | None = None) -> float:
        """Mean (``q`` None) or nearest-rank percentile ``q`` (0-100), in milliseconds."""
        if q is None:
            return 1000 * sum(self.seconds) / len(self.seconds)
        ordered = sorted(self.seconds)
        return 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class CountingFetch:
    """Wraps ``store.fetch_tiles`` to count the database reads."""

    def __init__(self, fetch: Callable[[list[tuple[int, int]]], dict[tuple[int, int], bytes]]):
        self._fetch = fetch
        self.calls = 0

    def __call__(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        self.calls += 1
        return self._fetch(keys)


def time_proofs(
    backend: str, store: Store, built: Built, indices: list[int], warmup: list[int],
    old_sizes: list[int], old_warmup: list[int],
) -> list[Timing]:  # fmt: skip
    """Cold and warm inclusion and consistency proofs; every timed proof is verified."""
    n, root = built.size, built.root
    fetch = CountingFetch(store.fetch_tiles)
    clock = time.perf_counter
    # The stored tree must give the builder's root, at n and at every old size.
    if TileReader(store.fetch_tiles, size=n, cache=TileCache()).root() != root:
        raise AssertionError(f"{backend}: stored tiles do not give the builder's root at {n}")
    out: list[Timing] = []

    for cache_mode in ("cold", "warm"):
        shared = TileCache()

        def reader(size: int, mode: str = cache_mode) -> TileReader:
            cache = TileCache() if mode == "cold" else shared  # noqa: B023
            return TileReader(fetch, size=size, cache=cache)

        # -- inclusion
        if cache_mode == "warm":
            for i in warmup:
                inclusion_proof(i, n, reader(n).subtree)
        t = Timing(backend, n, "inclusion", cache_mode)
        fetch.calls = 0
        for i in indices:
            r = reader(n)
            t0 = clock()
            path = inclusion_proof(i, n, r.subtree)
            t.seconds.append(clock() - t0)
            t.hashes += len(path)
            verify_inclusion(leaf_hash(i.to_bytes(8, "big")), i, n, path, root)
            t.verified += 1
        t.fetches = fetch.calls
        out.append(t)

        # -- consistency
        if cache_mode == "warm":
            for m in old_warmup:
                consistency_proof(m, n, reader(n).subtree)
        t = Timing(backend, n, "consistency", cache_mode)
        fetch.calls = 0
        for m in old_sizes:
            r = reader(n)
            t0 = clock()
            proof = consistency_proof(m, n, r.subtree)
            t.seconds.append(clock() - t0)
            t.hashes += len(proof)
            verify_consistency(m, n, built.old_roots[m], root, proof)
            t.verified += 1
        t.fetches = fetch.calls
        out.append(t)
    return out


PAGE = 100  # leaves per page
WINDOW = 40_000  # a merchant's 100 newest accesses span about this many leaves at 200 merchants


def page_leaves(rng: random.Random, n: int, *, newest: bool) -> list[int]:
    """100 distinct leaves of a window of :data:`WINDOW`, newest first."""
    top = n if newest else rng.randrange(min(n, WINDOW), n + 1)
    low = max(0, top - WINDOW)
    return sorted(rng.sample(range(low, top), min(PAGE, top - low)), reverse=True)


def page_one_by_one(reader: TileReader, page: list[int], n: int, root: bytes) -> list[list[bytes]]:
    """A page's proofs as ``Ledger.inclusion_proofs`` made them before: one round trip for the
    tiles, then each proof asked of ``reader.subtree`` and checked on its own."""
    reader.prefetch([r for i in page for r in inclusion_ranges(i, n)])
    paths = []
    for i in page:
        path = inclusion_proof(i, n, reader.subtree)
        verify_inclusion(leaf_hash(i.to_bytes(8, "big")), i, n, path, root)
        paths.append(path)
    return paths


def page_together(reader: TileReader, page: list[int], n: int, root: bytes) -> list[list[bytes]]:
    """A page's proofs as ``Ledger.inclusion_proofs`` makes them now."""
    paths = reader.inclusion_paths(page)
    verify_inclusions(
        [(leaf_hash(i.to_bytes(8, "big")), i, p) for i, p in zip(page, paths, strict=True)],
        n,
        root,
    )
    return paths


@dataclass
class PageTiming:
    """Latencies of pages of proofs, in seconds, one by one and together (same pages)."""

    backend: str
    size: int
    cache: str
    one_by_one: list[float] = field(default_factory=list)
    together: list[float] = field(default_factory=list)

    @staticmethod
    def ms(seconds: list[float], q: float) -> float:
        ordered = sorted(seconds)
        return 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def time_pages(backend: str, store: Store, built: Built, pages: int, seed: int) -> list[PageTiming]:
    """Pages of 100 proofs, one by one and together, warm then cold; the proofs must agree."""
    n, root = built.size, built.root
    rng = random.Random(f"pages-{seed}-{n}")
    chosen = [page_leaves(rng, n, newest=k % 2 == 0) for k in range(pages)]
    clock = time.perf_counter
    out = []
    for mode in ("warm", "cold"):
        shared = TileCache()
        t = PageTiming(backend, n, mode)
        if mode == "warm":
            for page in chosen:  # warm-up: every tile of these pages in the cache
                page_together(TileReader(store.fetch_tiles, size=n, cache=shared), page, n, root)
        for k, page in enumerate(chosen):
            got = []
            for way in ("one by one", "together") if k % 2 else ("together", "one by one"):
                cache = shared if mode == "warm" else TileCache()
                reader = TileReader(store.fetch_tiles, size=n, cache=cache)
                make = page_one_by_one if way == "one by one" else page_together
                t0 = clock()
                paths = make(reader, page, n, root)
                elapsed = clock() - t0
                (t.one_by_one if way == "one by one" else t.together).append(elapsed)
                got.append(paths)
            if got[0] != got[1]:
                raise AssertionError(f"{backend}: the page's proofs differ at size {n}")
        out.append(t)
    return out


def _print_pages(t: PageTiming) -> None:
    one, tog = t.one_by_one, t.together
    print(
        f"  {t.backend:10} {t.size:>11,} pages of {PAGE} {t.cache:4}  one by one p50 "
        f"{t.ms(one, 50):6.2f} p99 {t.ms(one, 99):6.2f} ms ({len(one) / sum(one):5.0f} pages/s)"
        f"   together p50 {t.ms(tog, 50):6.2f} p99 {t.ms(tog, 99):6.2f} ms "
        f"({len(tog) / sum(tog):5.0f} pages/s)   ×{sum(one) / sum(tog):.1f}",
        flush=True,
    )


def copy_tiles(src: Store, dst: Store, size: int, *, window: int = 256) -> int:
    """Copy every tile of a tree of ``size`` leaves from ``src`` to ``dst``; returns the count."""
    copied = 0
    with dst.writer() as w:
        level, count = 0, size
        while count:
            last = (count - 1) >> 8  # index of the level's rightmost tile
            for first in range(0, last + 1, window):
                got = src.tiles_range(level, first, min(last, first + window - 1))
                w.put_tiles([(level, idx, blob) for idx, blob in sorted(got.items())])
                copied += len(got)
            level, count = level + 1, count >> 8  # complete nodes at the next tile level
        w.set_ledger_size(size)
    return copied


def _print_timing(t: Timing) -> None:
    k = len(t.seconds)
    print(
        f"  {t.backend:10} {t.size:>11,} {t.proof:11} {t.cache:4}  mean {t.ms():7.3f} ms  "
        f"p50 {t.ms(50):7.3f}  p99 {t.ms(99):7.3f}  max {1000 * max(t.seconds):7.3f}  "
        f"tile reads/proof {t.fetches / k:5.2f}  hashes/proof {t.hashes / k:5.1f}  "
        f"verified {t.verified}/{k}",
        flush=True,
    )


@contextmanager
def _postgres(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    sys.path.insert(0, str(REPO / "tests"))
    from pgcluster import ThrowawayCluster  # type: ignore[import-not-found]

    with ThrowawayCluster() as cluster:
        print(f"PostgreSQL cluster {cluster.bin_dir} in {cluster.dir}", flush=True)
        yield cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=_parse_sizes, default=[1_000_000, 10_000_000], help="tree sizes"
    )
    parser.add_argument("--proofs", type=int, default=1000, help="timed proofs per kind")
    parser.add_argument("--pages", type=int, default=200, help="timed pages of 100 proofs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=65_536, help="leaves per builder call")
    parser.add_argument(
        "--check-root-max",
        type=int,
        default=2_000_000,
        help="compare with merkle.root_hash for trees up to this size",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--pg-sizes", type=_parse_sizes, default=[1_000_000], help="sizes also timed on PostgreSQL"
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where the SQLite files go")
    args = parser.parse_args(argv)

    from sentinelle.store.sqlite import SQLiteStore

    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-ledger-", dir=args.tmp_dir))
    builds: list[Built] = []
    timings: list[Timing] = []
    page_timings: list[PageTiming] = []
    try:
        with _postgres(not args.no_postgres) as cluster:
            for n in args.sizes:
                rng = random.Random(f"{args.seed}-{n}")
                k = args.proofs
                indices = [rng.randrange(n) for _ in range(k)]
                warmup = [rng.randrange(n) for _ in range(k)]
                old_sizes = [rng.randrange(1, n) for _ in range(k)] if n > 1 else []
                old_warmup = [rng.randrange(1, n) for _ in range(k)] if n > 1 else []

                store = SQLiteStore.open(work / f"tree-{n}.db")
                print(f"building a tree of {n:,} leaves …", flush=True)
                built = build(
                    store, n, old_sizes, chunk=args.chunk, check_root_max=args.check_root_max
                )
                built.db_mb = (work / f"tree-{n}.db").stat().st_size / (1 << 20)  # not the WAL
                builds.append(built)
                checked = (
                    " (root checked against merkle.root_hash)" if n <= args.check_root_max else ""
                )
                print(
                    f"  built {n:,} leaves in {built.total_seconds:.1f} s: leaf hashing "
                    f"{built.leaf_seconds:.1f} s, TreeBuilder {built.tree_seconds:.1f} s "
                    f"({n / built.tree_seconds:,.0f} leaves/s), tile writes + commit "
                    f"{built.db_seconds:.1f} s; {built.tiles:,} tiles, {built.db_mb:,.0f} MiB"
                    f"{checked}",
                    flush=True,
                )
                for t in time_proofs(
                    "SQLite", store, built, indices, warmup, old_sizes, old_warmup
                ):
                    _print_timing(t)
                    timings.append(t)
                for pt in time_pages("SQLite", store, built, args.pages, args.seed):
                    _print_pages(pt)
                    page_timings.append(pt)

                if cluster is not None and n in args.pg_sizes:
                    from sentinelle.store.postgres import PostgresStore

                    pg = PostgresStore.open(cluster.create_database())
                    t0 = time.perf_counter()
                    copied = copy_tiles(store, pg, n)
                    print(
                        f"  copied {copied:,} tiles to PostgreSQL in "
                        f"{time.perf_counter() - t0:.1f} s",
                        flush=True,
                    )
                    for t in time_proofs(
                        "PostgreSQL", pg, built, indices, warmup, old_sizes, old_warmup
                    ):
                        _print_timing(t)
                        timings.append(t)
                    for pt in time_pages("PostgreSQL", pg, built, args.pages, args.seed):
                        _print_pages(pt)
                        page_timings.append(pt)
                    pg.close()
                store.close()
                (work / f"tree-{n}.db").unlink()
                for extra in work.glob(f"tree-{n}.db-*"):
                    extra.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    _summary(builds, timings, args.proofs, page_timings)
    return 0


def _summary(
    builds: list[Built], timings: list[Timing], proofs: int, pages: list[PageTiming]
) -> None:
    print()
    print(f"Python {sys.version.split()[0]}. Building the tree (counter leaves, SQLite tiles):")
    print()
    print("| Leaves | TreeBuilder leaves/s | Build total (s) | Tiles | SQLite size (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    for b in builds:
        print(
            f"| {b.size:,} | {b.size / b.tree_seconds:,.0f} | {b.total_seconds:.1f} "
            f"| {b.tiles:,} | {b.db_mb:,.0f} |"
        )
    print()
    print(
        f"Proofs from stored tiles, {proofs} random leaves / old sizes per row, each verified; "
        "cold = empty tile cache per proof, warm = shared LRU cache after a warm-up:"
    )
    print()
    print(
        "| Store | Leaves | Proof | Cache | Mean (ms) | p50 (ms) | p99 (ms) "
        "| Tile reads/proof | Hashes/proof |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for t in timings:
        k = len(t.seconds)
        print(
            f"| {t.backend} | {t.size:,} | {t.proof} | {t.cache} | {t.ms():.3f} | {t.ms(50):.3f} "
            f"| {t.ms(99):.3f} | {t.fetches / k:.1f} | {t.hashes / k:.1f} |"
        )
    if not pages:
        return
    print()
    print(
        f"Pages of {PAGE} proofs ({len(pages[0].together)} pages per row, the newest or a random "
        f"window of {WINDOW:,} leaves), each page checked against the root; one by one = "
        "inclusion_proof + verify_inclusion per leaf (before), together = inclusion_paths + "
        "verify_inclusions (now):"
    )
    print()
    print(
        "| Store | Leaves | Cache | One by one p50 / p99 (ms) | Together p50 / p99 (ms) "
        "| Pages/s one by one | Pages/s together | Speed-up |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for t in pages:
        one, tog = t.one_by_one, t.together
        print(
            f"| {t.backend} | {t.size:,} | {t.cache} | {t.ms(one, 50):.2f} / {t.ms(one, 99):.2f} "
            f"| {t.ms(tog, 50):.2f} / {t.ms(tog, 99):.2f} | {len(one) / sum(one):,.0f} "
            f"| {len(tog) / sum(tog):,.0f} | ×{sum(one) / sum(tog):.1f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
