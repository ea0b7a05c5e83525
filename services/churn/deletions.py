"""Deleted posts (X's ``tweet_delete_events``; a ``deleted`` event over HTTP): their text erased from
PostgreSQL by the churn detector's batch step, under the author's lock.

A ``deleted`` event names the interaction's event id (``deletes``) and travels the events topic
keyed by the author, like the post it deletes, so the detector reads it after the post. Its batch
records the deletion in ``post_deletions`` (the tombstone, and the record ``followback explain``
shows: which post, when, how many rows changed) and blanks the text of every stored copy of the
post (X delivers a post that involves several brands once per brand). A copy that reaches the
detector afterwards (re-delivered, for another brand, or before its own post out of order) is folded
and stored without its text, so nothing writes the text back. The interaction itself stays (kind,
time): no score reads its text (only the profile's), so no decision changes and a replay of the log
finds no difference. A deletion recorded before (re-delivered, or X's copy for another brand)
changes nothing more.

Only the detector stores an interaction's text (``churn_processed``): the scorer's decisions, the
review queue (its latest interactions are read from there) and the notifier's messages hold none.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import asyncpg

from shared.events import Event, EventType

# An X post's event id names the brand it was delivered for (services/ingest/webhook.py).
_X_POST = re.compile(r"^x:tweet:[^:]*:(?P<post>.+)$")


def post_key(event_id: str) -> str:
    """What names a post whichever brand it was delivered for: an X post's event id without the
    brand (``x:tweet:BRAND:POST`` -> ``x:tweet:POST``); any other event id as it is."""
    match = _X_POST.match(event_id)
    return f"x:tweet:{match['post']}" if match else event_id


def copies(event_id: str, accounts: Iterable[str]) -> list[str]:
    """The event ids a post may be stored under: the one named, and an X post's for each of these
    brands."""
    match = _X_POST.match(event_id)
    if match is None:
        return [event_id]
    return sorted({event_id, *(f"x:tweet:{account}:{match['post']}" for account in accounts)})


def split(events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """A batch's events to fold, and its ``deleted`` events (never folded)."""
    return (
        [e for e in events if e.type is not EventType.DELETED],
        [e for e in events if e.type is EventType.DELETED],
    )


# Each key's stored copies (``n``: the key's place in the batch), as their text is blanked.
_BLANK = """
    UPDATE churn_processed c
    SET annotated = jsonb_set(c.annotated, '{event,interaction,text}', '""'::jsonb)
    FROM unnest($1::int[], $2::text[], $3::text[]) AS u(n, event_id, follower_id)
    WHERE c.event_id = u.event_id AND c.follower_id = u.follower_id
      AND coalesce(c.annotated->'event'->'interaction'->>'text', '') <> ''
    RETURNING u.n
"""

# The first deletion of a post is recorded; a later one (re-delivered, another brand's) adds only
# what it changed, when it changed anything.
_RECORD = """
    INSERT INTO post_deletions
        (follower_id, post_key, account_id, event_id, deletes, deleted_at, rows_changed)
    SELECT f, k, a, e, d, t, jsonb_build_object('churn_processed', n, 'stored_without_text', 0)
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int[])
        AS u(f, k, a, e, d, t, n)
    ON CONFLICT (follower_id, post_key) DO UPDATE
    SET rows_changed = jsonb_set(post_deletions.rows_changed, '{churn_processed}',
        to_jsonb(coalesce((post_deletions.rows_changed->>'churn_processed')::int, 0)
                 + (EXCLUDED.rows_changed->>'churn_processed')::int))
    WHERE (EXCLUDED.rows_changed->>'churn_processed')::int > 0
"""


async def erase(conn: asyncpg.Connection, deletions: Sequence[Event]) -> None:
    """Record each deleted post and blank the text of its stored copies, in three round trips
    whatever the batch holds (the caller holds the authors' locks)."""
    if not deletions:
        return
    rows = await conn.fetch(
        "SELECT follower_id, account_id FROM relationships WHERE follower_id = ANY($1::text[])",
        sorted({d.follower.id for d in deletions}),
    )
    brands: dict[str, set[str]] = {}
    for row in rows:
        brands.setdefault(row["follower_id"], set()).add(row["account_id"])
    # One entry per post (X's copies of a deletion for several brands are one): its first deletion
    # in the batch, and the ids of every copy any of them names.
    posts: dict[tuple[str, str], tuple[Event, set[str]]] = {}
    for deletion in deletions:
        assert deletion.deletes is not None  # (the model requires it of a deleted event)
        author = deletion.follower.id
        _, ids = posts.setdefault((author, post_key(deletion.deletes)), (deletion, set()))
        ids.update(copies(deletion.deletes, {deletion.account_id, *brands.get(author, ())}))
    keys = list(posts)
    copied = [(n, event_id, key[0]) for n, key in enumerate(keys) for event_id in sorted(posts[key][1])]
    blanked = await conn.fetch(
        _BLANK, [n for n, _, _ in copied], [e for _, e, _ in copied], [a for _, _, a in copied]
    )
    changed = Counter(row["n"] for row in blanked)
    firsts = [posts[key][0] for key in keys]
    await conn.execute(
        _RECORD,
        [author for author, _ in keys],
        [key for _, key in keys],
        [d.account_id for d in firsts],
        [d.event_id for d in firsts],
        [d.deletes for d in firsts],
        [d.occurred_at for d in firsts],
        [changed[n] for n in range(len(keys))],
    )


async def withheld(conn: asyncpg.Connection, events: Sequence[Event]) -> list[Event]:
    """The events, each interaction whose post was deleted (recorded in ``post_deletions``) without
    its text, counted in its deletion's record."""
    texts = [(e.follower.id, post_key(e.event_id)) for e in events if e.interaction and e.interaction.text]
    if not texts:
        return list(events)
    rows = await conn.fetch(
        """
        UPDATE post_deletions d SET rows_changed = jsonb_set(d.rows_changed, '{stored_without_text}',
            to_jsonb(coalesce((d.rows_changed->>'stored_without_text')::int, 0) + k.n))
        FROM (SELECT follower_id, post_key, count(*)::int AS n
              FROM unnest($1::text[], $2::text[]) AS u(follower_id, post_key) GROUP BY 1, 2) k
        WHERE d.follower_id = k.follower_id AND d.post_key = k.post_key
        RETURNING d.follower_id, d.post_key
        """,
        [follower for follower, _ in texts],
        [key for _, key in texts],
    )
    deleted = {(row["follower_id"], row["post_key"]) for row in rows}
    if not deleted:
        return list(events)
    return [_without_text(e) if (e.follower.id, post_key(e.event_id)) in deleted else e for e in events]


def _without_text(event: Event) -> Event:
    if event.interaction is None:
        return event
    return event.model_copy(update={"interaction": event.interaction.model_copy(update={"text": ""})})
