"""The churn detector on the real broker and database, with a scripted stream of known churners,
serial and cross-account churners, a follow-back churner, glitches and loyal followers."""

from __future__ import annotations

import asyncpg
import pytest
from prometheus_client import REGISTRY

from followback.lag import stage_lag
from services.churn.app import create_app
from shared.relationships import AnnotatedEvent, ChurnAlert
from shared.settings import Settings
from tests.churn_support import expected_alerts, scripted
from tests.support import eventually, publish_events, read_to_end

pytestmark = pytest.mark.integration


def _late() -> float:
    return REGISTRY.get_sample_value("followback_late_events_total") or 0.0


async def test_a_scripted_stream_gives_exactly_the_expected_alerts(
    settings: Settings, db: asyncpg.Connection
) -> None:
    script = scripted()
    late_before = _late()
    async with create_app(settings).start_lifespan_context():
        await publish_events(settings, script.events)
        expected_rows = len(script.events) + len(script.retained)
        await eventually(
            lambda: db.fetchval(
                "SELECT (SELECT count(*) FROM churn_processed) + (SELECT count(*) FROM churn_retained)"
            ),
            lambda n: n >= expected_rows,
            60,
        )
        # States commit before their outputs are published; offsets commit after: no lag, all out.
        lag = await eventually(lambda: stage_lag(settings), lambda found: found["churn"] == 0, 60)
        assert lag["churn"] == 0, f"churn detector still {lag['churn']} events behind"
        alerts = await read_to_end(settings, settings.topic("churn_alerts"))
        records = await read_to_end(settings, settings.topic("annotated"))

    assert expected_alerts(ChurnAlert.model_validate_json(r.value) for r in alerts) == script.alerts
    latest: dict[str, AnnotatedEvent] = {}
    for record in records:
        item = AnnotatedEvent.model_validate_json(record.value)
        known = latest.get(item.event.event_id)
        if known is None or item.relationship.revision >= known.relationship.revision:
            latest[item.event.event_id] = item
    retained = {
        (a.event.account_id, a.event.follower.id) for a in latest.values() if a.event.type == "retained"
    }
    assert retained == script.retained
    assert len(latest) == expected_rows
    assert await db.fetchval("SELECT count(*) FROM churn_processed") == len(script.events)
    assert await db.fetchval("SELECT count(*) FROM churn_retained") == len(script.retained)

    # The follow-back that arrived 15 minutes after the unfollow it preceded: the unfollow's
    # annotation was published again with the pattern.
    assert latest["o3"].relationship.patterns == ("quick_unfollow", "unfollow_after_follow_back")
    assert latest["o3"].relationship.revision == 1
    # Three weeks late: recorded, flagged and counted.
    assert latest["lt"].relationship.late
    assert _late() - late_before == 1
    assert (
        await db.fetchval("SELECT (state->>'interactions')::int FROM relationships WHERE follower_id = '301'")
        == 3
    )
    # Small, bounded states: the largest relationship here (the serial churner) stays well under 1 kB.
    assert await db.fetchval("SELECT max(pg_column_size(state)) FROM relationships") < 1024
