"""``followback forget FOLLOWER``: erase a follower's personal data from PostgreSQL, and say so.

Erased: profile snapshots (handle, name, bio, location, URL, counts) and texts (interactions,
messages). Kept: ids, times, classes, scores and the reasons' signals and points, so decision
counts and the audit trail stay whole; reason values are dropped, since some quote the profile.
Recorded: one ``erasures`` row with who and how many rows changed. The churn detector's stored
events are marked erased: a revision or re-publication of one decides nothing (the scorer would
otherwise score the blank profile), so an erasure never changes a decision. The raw events topic is
outside PostgreSQL's reach: its retention decides how long the original events stay there.

Outbox payloads (pushes, retractions, follow-backs, events, digest lines) are *stripped*, never
wiped, whatever their status: the personal keys go, a published event's follower keeps only its id,
and everything a sender needs stays (ids, score, reasons' signals and points, the queue link). One
rule for every status because none is final: a dead delivery can be retried by a person and an
interrupted one resent, and each must still render ("follower 123, score 91") or publish a valid
event. ``review_audit`` is append-only (a trigger refuses every update, even the owner's), so forget
leaves it alone: actions record no handle there (migration 0010 stripped the ones recorded before).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.churn.store import lock_followers
from shared.events import Profile

# A payload's keys that describe the person: every profile field except ``id`` and ``url`` (at a
# payload's top level ``url`` is the review queue's link; a profile's own URL sits only in ``follower``).
PERSONAL_KEYS = sorted(set(Profile.model_fields) - {"id", "url"})
_KEYS = "ARRAY[" + ", ".join(f"'{key}'" for key in PERSONAL_KEYS) + "]::text[]"


def stripped(payload: str) -> str:
    """SQL for the jsonb ``payload`` (a column or alias, never a value) without personal data; every
    other key as it was."""
    return f"""(
        ({payload} - {_KEYS})
        || CASE WHEN jsonb_typeof({payload}->'reasons') = 'array' THEN jsonb_build_object('reasons', (
                SELECT coalesce(jsonb_agg(r || '{{"value": null}}'::jsonb ORDER BY i), '[]'::jsonb)
                FROM jsonb_array_elements({payload}->'reasons') WITH ORDINALITY AS reason(r, i)))
           ELSE '{{}}'::jsonb END
        || CASE WHEN jsonb_typeof({payload}->'follower') = 'object'
                THEN jsonb_build_object('follower', jsonb_build_object('id', {payload}->'follower'->'id'))
           ELSE '{{}}'::jsonb END
        || CASE WHEN jsonb_typeof({payload}->'interaction') = 'object' THEN jsonb_build_object(
                'interaction', jsonb_build_object('kind', {payload}->'interaction'->'kind', 'text', ''))
           ELSE '{{}}'::jsonb END)"""  # noqa: S608 - fixed strings only, no values


# Each statement erases in one table; $1 is the follower id.
ERASE: dict[str, str] = {
    "churn_processed": """
        UPDATE churn_processed SET annotated = jsonb_set(
            jsonb_set(annotated, '{event,follower}', jsonb_build_object('id', follower_id)),
            '{event,interaction}',
            CASE WHEN annotated->'event'->'interaction' = 'null'::jsonb THEN 'null'::jsonb
                 ELSE jsonb_build_object('kind', annotated->'event'->'interaction'->>'kind', 'text', '')
            END) || '{"erased": true}'::jsonb
        WHERE follower_id = $1 AND annotated->'erased' IS DISTINCT FROM 'true'::jsonb
    """,
    "decisions": """
        UPDATE decisions SET screen_name = '', reasons = (
            SELECT coalesce(jsonb_agg(r - 'value' || jsonb_build_object('value', null)), '[]'::jsonb)
            FROM jsonb_array_elements(reasons) AS r)
        WHERE follower_id = $1 AND (screen_name <> '' OR reasons @? '$[*] ? (@.value != null)')
    """,
    "review_items": """
        UPDATE review_items SET screen_name = '', profile = NULL, reasons = (
            SELECT coalesce(jsonb_agg(r - 'value' || jsonb_build_object('value', null)), '[]'::jsonb)
            FROM jsonb_array_elements(reasons) AS r)
        WHERE follower_id = $1
          AND (screen_name <> '' OR profile IS NOT NULL OR reasons @? '$[*] ? (@.value != null)')
    """,
    # Still deliverable: see the module's docstring. (S608: only fixed strings are interpolated here.)
    "deliveries": f"""
        UPDATE deliveries SET payload = {stripped("payload")}
        WHERE follower_id = $1 AND payload <> {stripped("payload")}
    """,  # noqa: S608
    # A digest still to be written lists the line (score and reasons too); a retraction finds it by
    # decision id.
    "digest_entries": f"""
        UPDATE digest_entries SET payload = {stripped("payload")}
        WHERE follower_id = $1 AND payload <> {stripped("payload")}
    """,  # noqa: S608
    # A digest lists several followers: only this one's line loses its profile.
    "digests": f"""
        UPDATE deliveries SET payload = jsonb_set(payload, '{{followers}}', (
            SELECT jsonb_agg(CASE WHEN f->>'follower_id' = $1 THEN {stripped("f")} ELSE f END ORDER BY n)
            FROM jsonb_array_elements(payload->'followers') WITH ORDINALITY AS x(f, n)))
        WHERE kind = 'digest'
          AND payload->'followers' @> jsonb_build_array(jsonb_build_object('follower_id', $1::text))
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(payload->'followers') AS x(f)
                      WHERE f->>'follower_id' = $1 AND f <> {stripped("f")})
    """,  # noqa: S608
}


# Where a follower's data lives: one it has never been seen in is not a follower of ours.
HELD_IN = ("churn_processed", "decisions", "review_items", "deliveries", "digest_entries")
HELD = "SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {t} WHERE follower_id = $1)" for t in HELD_IN)  # noqa: S608


class UnknownFollowerError(LookupError):
    """No table holds anything of the follower: nothing to erase (a mistyped id, or a handle)."""


async def forget(conn: asyncpg.Connection, follower: str, by: str) -> dict[str, int]:
    """Erase in one transaction; returns the rows changed per table (rows already erased are left
    as they are and not counted). :class:`UnknownFollowerError`, recording nothing, when no table
    holds anything of the follower."""
    changed: dict[str, Any] = {}
    async with conn.transaction():
        # The churn detector's lock on the follower: a revision it read before the erasure cannot
        # be written back over it afterwards.
        await lock_followers(conn, [follower])
        # The scorer's batches hold ROW EXCLUSIVE on decisions from before they read the erasures:
        # this waits for those in flight to commit, so a decision one recorded is erased below, and
        # holds back those that start until the erasure is committed for them to read.
        await conn.execute("LOCK TABLE decisions IN SHARE MODE")
        if not await conn.fetchval(HELD, follower):
            raise UnknownFollowerError(
                f"nothing of follower {follower!r} is held: check the id (the platform's user id, "
                "not the handle); nothing erased, nothing recorded"
            )
        for table, sql in ERASE.items():
            status = await conn.execute(sql, follower)
            changed[table] = int(status.split()[-1])
        await conn.execute(
            "INSERT INTO erasures (follower_id, erased_by, rows_changed) VALUES ($1, $2, $3::text::jsonb)",
            follower,
            by,
            json.dumps(changed),
        )
    return changed
