"""The churn detector's fold loop without I/O (for property tests) and a scripted stream with known
churners (for the tests on the real broker and database)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.churn import codec
from services.churn.history import View
from services.churn.patterns import ChurnRules
from services.churn.rules import fold_event, moves_clock
from services.churn.timeline import Rel, advance
from shared.events import Event
from shared.relationships import Annotation, ChurnAlert, RelationshipState
from tests.support import REAL_PERSON, event


@dataclass
class Loop:
    """What the detector does with one partition's events, minus PostgreSQL and Kafka: a clock, the
    follower's relationships, a processed-id set, and the latest version of every output."""

    rules: ChurnRules
    rels: dict[str, dict[str, Rel]] = field(default_factory=dict)
    now: dict[tuple[str, str], Any] = field(default_factory=dict)
    clock: datetime | None = None
    seen: set[str] = field(default_factory=set)
    annotations: dict[str, Annotation] = field(default_factory=dict)
    first: dict[str, Annotation] = field(default_factory=dict)  # as first published
    alerts: dict[str, ChurnAlert] = field(default_factory=dict)
    retained: dict[tuple[str, str, datetime], Annotation] = field(default_factory=dict)
    late: set[str] = field(default_factory=set)
    # Each follower's views as its last fold left them, handed to the next fold as the detector does
    # (keep_views=False: every fold steps every pending event again, the reference).
    keep_views: bool = True
    views: dict[str, dict[str, View]] = field(default_factory=dict)

    def watermark(self) -> datetime | None:
        return None if self.clock is None else self.clock - self.rules.grace

    def feed(self, events: Iterable[Event]) -> Loop:
        for item in events:
            if item.event_id in self.seen:
                continue  # the detector's churn_processed
            self.seen.add(item.event_id)
            if moves_clock(item):
                self.clock = item.occurred_at if self.clock is None else max(self.clock, item.occurred_at)
            follower = item.follower.id
            views = self.views.get(follower) if self.keep_views else None
            out = fold_event(self.rels.get(follower, {}), item, self.watermark(), self.rules, views=views)
            assert out.annotation is not None
            self.first[item.event_id] = self.annotations[item.event_id] = out.annotation
            if out.late:
                self.late.add(item.event_id)
            self._take(follower, out)
        return self

    def finish(self) -> Loop:
        """The sweep at the end of the stream: every follower moved to the final watermark."""
        watermark = self.watermark()
        if watermark is not None:
            for follower, rels in list(self.rels.items()):
                self._take(follower, advance(rels, watermark, self.rules))
        return self

    def _take(self, follower: str, out: Any) -> None:
        self.rels[follower] = out.follower
        self.views[follower] = out.views
        for account, current in out.views.items():
            self.now[(account, follower)] = current.now
        for event_id, note in out.revised:
            self.annotations[event_id] = note
        for alert in out.alerts:
            self.alerts[alert.alert_id] = alert
        for notice in out.retained:
            self.retained[(notice.account_id, follower, notice.follow_at)] = notice.annotation

    def states(self) -> dict[tuple[str, str], RelationshipState]:
        return {
            (account, follower): codec.to_state(rel, self.now[(account, follower)])
            for follower, rels in self.rels.items()
            for account, rel in rels.items()
        }


def without_revisions(loop: Loop) -> dict[str, Any]:
    """Everything a run leaves, but how often each output was corrected (which counts arrivals): an
    alert withdrawn is as good as none."""
    states = {}
    for key, state in loop.states().items():
        body = state.model_dump(mode="json")
        body["pending"] = [p[:3] for p in body["pending"]]
        body["alerts"] = [[m[0], *m[2:6]] for m in body["alerts"] if not m[6]]
        states[key] = body
    return {
        "states": states,
        "annotations": {k: a.model_dump(exclude={"revision"}) for k, a in loop.annotations.items()},
        "alerts": {k: a.model_dump(exclude={"revision"}) for k, a in loop.alerts.items() if not a.withdrawn},
        "retained": {k: a.model_dump() for k, a in loop.retained.items()},
    }


@dataclass
class Stored(Loop):
    """The loop with each relationship written to its stored JSON and read back after every fold."""

    def _take(self, follower: str, out: Any) -> None:
        super()._take(follower, out)
        self.rels[follower] = {
            account: codec.from_json(
                json.loads(json.dumps(codec.to_json(rel, self.now[(account, follower)])))
            )
            for account, rel in self.rels[follower].items()
        }


OUTPUTS = ("first", "annotations", "alerts", "retained", "late")


def shuffled_as_in_order(events: list[Event], shuffled: list[Event], rules: ChurnRules) -> Loop:
    """Fold ``events`` in order and ``shuffled`` (within the grace period): the same results but how
    often each output was corrected, and in order nothing is ever revised. Returns the in-order run."""
    in_order, permuted = Loop(rules).feed(events).finish(), Loop(rules).feed(shuffled).finish()
    assert without_revisions(permuted) == without_revisions(in_order)
    assert in_order.first == in_order.annotations  # in order, nothing is revised
    return in_order


def kept_and_stored_as_stepped_again(arrival: list[Event], rules: ChurnRules) -> Loop:
    """Fold ``arrival`` stepping onto the views the last fold left, and with the state stored and read
    back after every fold: both give what stepping every pending event again gives (returned)."""
    again = Loop(rules, keep_views=False).feed(arrival).finish()
    for loop in (Loop(rules), Stored(rules, keep_views=False)):
        loop.feed(arrival).finish()
        for part in OUTPUTS:
            assert getattr(loop, part) == getattr(again, part), part
        assert loop.states() == again.states()
    return again


H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
HUSTLER = {**REAL_PERSON, "screen_name": "growth_guru", "description": "Growth marketer | DM for collabs"}


@dataclass(frozen=True)
class Script:
    """A scripted stream and the alerts and ``retained`` events it must give, exactly."""

    events: list[dict[str, Any]]
    alerts: set[tuple[str, str, str]]  # (account, follower, pattern)
    retained: set[tuple[str, str]]  # (account, follower)
    late: set[str]  # event ids that arrive after the grace period


def scripted() -> Script:
    """Known churners, serial and cross-account churners, a follow-back churner, glitches, loyal
    followers, an out-of-order pair within the grace period and a late event; two brand accounts."""
    e = event
    stream = [
        e("q1", "follow", "201", 0 * H, HUSTLER),  # quick unfollow after 29 hours
        e("l1", "follow", "301", 0 * H),  # loyal: retained after 7 days
        e("l2", "follow", "302", 1 * H, account="shop"),  # loyal on the other account
        e("g1", "follow", "401", 2 * H),  # glitch: 10 minutes
        e("g2", "unfollow", "401", 2 * H + 10 * M),
        e("g3", "follow", "401", 2 * H + 12 * M),  # ... follows again and stays: retained
        e("s1", "follow", "501", 3 * H, HUSTLER),  # serial churner: three cycles in three weeks
        e("x1", "follow", "601", 3 * H, HUSTLER),  # cross-account churner: brand, then shop
        e("i1", "interaction", "301", 4 * H, interaction="mention"),
        e("x2", "unfollow", "601", 7 * H, HUSTLER),
        e("x3", "follow", "601", 8 * H, HUSTLER, account="shop"),
        e("b1", "follow", "701", 9 * H),  # unfollows 20 days after the brand followed back
        e("o1", "follow", "801", 10 * H, HUSTLER),
        e("x4", "unfollow", "601", 11 * H, HUSTLER, account="shop"),
        # Out of order within the grace period: the brand's follow-back arrives after the unfollow
        # that came 15 minutes later, and still counts as before it.
        e("o3", "unfollow", "801", 13 * H, HUSTLER),
        e("o2", "followed_back", "801", 12 * H + 45 * M, HUSTLER),
        e("b2", "followed_back", "701", 20 * H),
        e("q2", "unfollow", "201", 29 * H, HUSTLER),
        e("s2", "unfollow", "501", 2 * D, HUSTLER),
        e("s3", "follow", "501", 10 * D, HUSTLER),
        e("s4", "unfollow", "501", 12 * D, HUSTLER),
        e("w1", "follow", "901", 13 * D),  # leaves after 8 days: not churn; retained first
        e("s5", "follow", "501", 20 * D, HUSTLER),
        e("i2", "interaction", "301", 21 * D, interaction="reply"),
        e("b3", "unfollow", "701", 21 * D),
        e("s6", "unfollow", "501", 21 * D, HUSTLER),
        e("w2", "unfollow", "901", 21 * D + 2 * H),
        # The last step of each partition's stream time (the tests' topics have 3 partitions and
        # these ids land on one each): nothing due for them yet.
        e("t1", "follow", "1001", 21 * D + 3 * H),
        e("t2", "follow", "1003", 21 * D + 3 * H),
        e("t3", "follow", "1005", 21 * D + 3 * H),
        e("lt", "interaction", "301", 5 * H, interaction="like"),  # three weeks late: still recorded
    ]
    alerts = {
        ("brand", "201", "quick_unfollow"),
        ("brand", "501", "quick_unfollow"),
        ("brand", "501", "serial_churn"),
        ("brand", "601", "quick_unfollow"),
        ("shop", "601", "quick_unfollow"),
        ("shop", "601", "cross_account_churn"),
        ("brand", "701", "unfollow_after_follow_back"),
        ("brand", "801", "quick_unfollow"),
        ("brand", "801", "unfollow_after_follow_back"),
    }
    retained = {("brand", "301"), ("shop", "302"), ("brand", "401"), ("brand", "701"), ("brand", "901")}
    return Script(stream, alerts, retained, late={"lt"})


def expected_alerts(alerts: Iterable[ChurnAlert]) -> set[tuple[str, str, str]]:
    """The standing alerts (latest version per id, not withdrawn)."""
    latest: dict[str, ChurnAlert] = {}
    for alert in alerts:
        if alert.alert_id not in latest or alert.revision >= latest[alert.alert_id].revision:
            latest[alert.alert_id] = alert
    return {(a.account_id, a.follower_id, a.pattern.value) for a in latest.values() if not a.withdrawn}
