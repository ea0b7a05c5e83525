"""The benchmark's memory curve: relationships seeded from states the real services wrote, a stream
through the real churn detector, scorer and notifier at each size, peak memory read per process."""

from __future__ import annotations

import asyncpg
import pytest

from followback import bench_memory
from shared.settings import Settings

pytestmark = pytest.mark.e2e


def test_sizes_grow_tenfold_and_end_at_the_limit() -> None:
    assert bench_memory.sizes(10_000_000) == [100_000, 1_000_000, 10_000_000]
    assert bench_memory.sizes(250_000) == [100_000, 250_000]
    assert bench_memory.sizes(50_000) == []


def test_each_point_seeds_its_relationships_and_measures_every_service(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded: list[tuple[int, int, int]] = []
    real_seed = bench_memory.seed

    async def counting_seed(config: Settings, have: int, want: int, partitions: int) -> None:
        await real_seed(config, have, want, partitions)
        conn = await asyncpg.connect(config.postgres.dsn.get_secret_value())
        try:
            found = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM relationships WHERE follower_id LIKE 'mem-%') AS rels, "
                "(SELECT count(DISTINCT follower_id) FROM decisions WHERE follower_id LIKE 'mem-%') "
                "AS decisions"
            )
        finally:
            await conn.close()
        seeded.append((want, found["rels"], found["decisions"]))

    monkeypatch.setattr(bench_memory, "seed", counting_seed)
    points = bench_memory.run(settings, limit=2_000, events=600, first=1_000)

    # Seeded rows equal the size asked for, each point on top of the last; the stream's followers are
    # among them, so the services load existing states rather than create new ones.
    assert [want for want, _, _ in seeded] == [1_000, 2_000]
    assert all(rels == want and decisions == want for want, rels, decisions in seeded)
    assert [p.relationships for p in points] == [1_000, 2_000]
    for point in points:
        assert point.events == 600
        assert point.seconds > 0
        assert set(point.peak_rss_mb) == {"churn", "scorer", "notifier"}
        assert all(mb > 10 for mb in point.peak_rss_mb.values())
