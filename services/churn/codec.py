"""The stored form of a relationship (``RelationshipState`` as jsonb) and the timeline's working form.

The detector writes and reads the JSON directly (:func:`to_json`, :func:`from_json`): building
pydantic models for every relationship of every batch cost more than the rules themselves. The
JSON is exactly ``RelationshipState``'s, without default values, which a test holds to.

States written before event time was tracked (schema 0001: the totals at the top level, no
``settled``) are upcast on read: everything they counted is settled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.churn.patterns import Tally
from services.churn.timeline import Item, Rel
from shared.events import EventType
from shared.relationships import ChurnPattern, RelationshipState, Settled, Totals

_TOTALS = tuple(Totals.model_fields)
assert Tally._fields[: len(_TOTALS)] == _TOTALS  # the totals lead, in the same order
_TIMES = frozenset({
    "last_follow_at", "last_unfollow_at", "last_interaction_at", "followed_back_at", "blocked_at",
    "suspended_at", "deactivated_at",
})  # fmt: skip
_SETTLED_ONLY = (
    "cycle_ends", "churn_ends", "retained_follow_at", "last_move_at", "glitch_ends", "unfollowed_back_at",
    "suspension_moved_at", "deactivation_moved_at", "unblocked_at",
)  # fmt: skip
_SETTLED_TIMES = frozenset({
    "retained_follow_at", "last_move_at", "unfollowed_back_at", "suspension_moved_at",
    "deactivation_moved_at", "unblocked_at", "through",
})  # fmt: skip
assert Tally._fields == (*_TOTALS, *_SETTLED_ONLY)


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored state in the current shape: a pre-event-time state becomes its own settled part.

    Those were written whole (``cycle_ends`` at the top level); a current one leaves out what is
    empty, ``settled`` included.
    """
    if "settled" in raw or "cycle_ends" not in raw:
        return raw
    settled = {k: raw[k] for k in (*_TOTALS, "cycle_ends") if k in raw}
    return {**{k: raw[k] for k in _TOTALS if k in raw}, "settled": settled}


def load(raw: dict[str, Any]) -> RelationshipState:
    return RelationshipState.model_validate(upcast(raw))


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text  # as pydantic writes UTC


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, tuple):
        return [_iso(v) if isinstance(v, datetime) else str(v) for v in value]
    return value


def _tally_json(tally: Tally, names: tuple[str, ...]) -> dict[str, Any]:
    # Every default is falsy (False, 0, None, ()) and no other value is: leave them out. The names
    # are a prefix of the tally's fields (the totals first), so zip pairs them up.
    return {name: _json(value) for name, value in zip(names, tally, strict=False) if value}


def to_json(rel: Rel, now: Tally) -> dict[str, Any]:
    """The stored form; ``now`` is the relationship as of its newest event (the top level)."""
    body = _tally_json(now, _TOTALS)
    settled = _tally_json(rel.settled, (*_TOTALS, *_SETTLED_ONLY))
    if rel.through is not None:
        settled["through"] = _iso(rel.through)
    if settled:
        body["settled"] = settled
    if rel.pending:
        body["pending"] = [[_iso(i.at), i.kind.value, i.event_id, i.revision] for i in rel.pending]
    if rel.alerts:
        body["alerts"] = [
            [str(pattern), revision, event_id, _iso(at), dwell, cycles, withdrawn]
            for pattern, revision, event_id, at, dwell, cycles, withdrawn in rel.alerts
        ]
    return body


def _parse(name: str, value: Any) -> Any:
    if name in _TIMES or name in _SETTLED_TIMES:
        return None if value is None else datetime.fromisoformat(value)
    if name in ("cycle_ends", "churn_ends", "glitch_ends"):
        return tuple(datetime.fromisoformat(v) for v in value)
    if name == "patterns":
        return tuple(ChurnPattern(v) for v in value)
    return value


def from_json(raw: dict[str, Any]) -> Rel:
    """The working form of a stored state (upcast first when it is from before event time)."""
    body = upcast(raw)
    settled = body.get("settled", {})
    tally = Tally(**{k: _parse(k, v) for k, v in settled.items() if k in Tally._fields})
    through = settled.get("through")
    return Rel(
        settled=tally,
        through=None if through is None else datetime.fromisoformat(through),
        pending=tuple(
            Item(datetime.fromisoformat(at), EventType(kind), event_id, revision)
            for at, kind, event_id, revision in body.get("pending", ())
        ),
        alerts=tuple(
            (ChurnPattern(p), rev, event_id, datetime.fromisoformat(at), dwell, cycles, withdrawn)
            for p, rev, event_id, at, dwell, cycles, withdrawn in body.get("alerts", ())
        ),
    )


def to_rel(state: RelationshipState) -> Rel:
    s = state.settled
    return Rel(
        settled=Tally(
            **{name: getattr(s, name) for name in _TOTALS},
            cycle_ends=s.cycle_ends,
            churn_ends=s.churn_ends,
            retained_follow_at=s.retained_follow_at,
            last_move_at=s.last_move_at,
            glitch_ends=s.glitch_ends,
            unfollowed_back_at=s.unfollowed_back_at,
            suspension_moved_at=s.suspension_moved_at,
            deactivation_moved_at=s.deactivation_moved_at,
            unblocked_at=s.unblocked_at,
        ),
        through=s.through,
        pending=tuple(Item(at, kind, event_id, revision) for at, kind, event_id, revision in state.pending),
        alerts=state.alerts,
    )


def to_state(rel: Rel, now: Tally) -> RelationshipState:
    """The stored form as a model (for :func:`services.churn.rules.apply`'s callers)."""
    # model_construct: every value comes from validated states and events already.
    settled = Settled.model_construct(
        **{name: getattr(rel.settled, name) for name in _TOTALS},
        through=rel.through,
        cycle_ends=rel.settled.cycle_ends,
        churn_ends=rel.settled.churn_ends,
        retained_follow_at=rel.settled.retained_follow_at,
        last_move_at=rel.settled.last_move_at,
        glitch_ends=rel.settled.glitch_ends,
        unfollowed_back_at=rel.settled.unfollowed_back_at,
        suspension_moved_at=rel.settled.suspension_moved_at,
        deactivation_moved_at=rel.settled.deactivation_moved_at,
        unblocked_at=rel.settled.unblocked_at,
    )
    return RelationshipState.model_construct(
        **{name: getattr(now, name) for name in _TOTALS},
        settled=settled,
        pending=tuple((i.at, i.kind, i.event_id, i.revision) for i in rel.pending),
        alerts=rel.alerts,
    )
