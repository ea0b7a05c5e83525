"""A deterministic, realistic sample stream of follow, unfollow and interaction events.

Used by ``followback demo`` and by the tests. Everything derives from ``random.Random(seed)`` and
``start``; the wall clock is never read, so one seed always gives the same stream. Each follower's
profile is a snapshot taken at their first event and is repeated unchanged on all their events.
Follower ids are snowflakes that encode the account's creation time, as the platform's do.

Persona mix (shares of followers; loosely after the field notes: Kwak et al. saw 43% of active
users unfollow someone within 51 days and new links break most often, so about 15% of the new
followers here leave again within the window, most of them within days):

=============== ===== ========================================================================
persona         share behaviour
=============== ===== ========================================================================
ordinary         45%  real person: a bio, ~40-2,000 followers, hundreds to thousands of posts,
                      posted in the last days, account years old; follows and stays
engaged           8%  an ordinary person who also mentions, replies, reposts, quotes, likes or
                      messages the brand 1-5 times after following
influencer        4%  10k-2M followers, listed by ~1% of them, 40% verified; follows, stays
spam             20%  bought fake: 0-25 followers, ~2,000-5,000 friends, almost no posts, days
                      old, no bio or follow-back begging, mostly the default image; arrives in a
                      few bursts per account. One in ten is a better-made fake (some posts, a
                      photo, a bland bio) that a profile-only scorer can hardly tell apart
churner          10%  decent-looking growth hacker: follows, unfollows 1.5 h to 4 days later; a
                      third repeat the cycle 2-3 times; given several accounts, a quarter churn
                      on 2-3 of them
inactive          8%  real-looking account whose last post is 4-30 months old; follows and stays
late_unfollower   3%  real person who unfollows after more than 7 days (not churn)
glitch            2%  follows and unfollows within minutes (a mis-tap: under 1 h, not churn);
                      40% follow again straight after
=============== ===== ========================================================================

Every follower other than a cross-account churner follows exactly one of ``accounts``.

With ``brand_acts`` (the demo's stream), the brand also acts on X, from a random stream of its own
so that the followers' events stay exactly those without it: it blocks about 15% of the spam
accounts 1-48 hours after they follow (``blocked``), follows about 30% of the influencers back on
X itself, 10 minutes to 2 days after they follow (``followed_back``, an id of X's kind: the review
queue then shows them followed back "on X"), and about 10% of the engaged followers' mentions,
replies and quotes are deleted by their author 1 hour to 3 days later (``deleted``, naming the
post's event id). Accounts also end on X, from a third random stream (so those draws stay too; the
followers' unfollows below are added, every event without ``brand_acts`` stays as it was):

* X suspends about 20% of the fake accounts the brand did not block, 2-6 days after they follow
  (``suspended``, as the brand's tooling posts it from X's compliance data);
* about 1% of the ordinary followers deactivate their account 1-10 days after following
  (``deactivated``), and 2% block the brand, more than 7 days after following (a quicker one would
  be a quick unfollow by the churn rules, which the churners stand for), so only those who followed
  a week before the window ends: posted as ingest maps X's block of the brand, the brand's
  ``unfollowed_back`` and their ``unfollow`` at one instant;

The brand unfollows no one it followed back (``unfollowed_back`` only comes with a block of the
brand here); the tests of services/notifier/follow_backs.py cover such a clean-up, in any order.

At the demo's seed, of 3,000 followers 77 are suspended (2.6%), 7 deactivate their account and 16
block the brand (116 events more); of 1,000, 19, 2 and 7.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.events import Event, EventType, Interaction, InteractionKind, Profile

PERSONA_SHARES: dict[str, float] = {
    "ordinary": 0.45, "engaged": 0.08, "influencer": 0.04, "spam": 0.20,
    "churner": 0.10, "inactive": 0.08, "late_unfollower": 0.03, "glitch": 0.02,
}  # fmt: skip

_TWEPOCH_MS = 1_288_834_974_657  # the platform's snowflake epoch (2010-11-04)
_MIN, _HOUR, _DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
_FIRST = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
          "Kenji", "Lena", "Marco", "Nadia", "Omar", "Priya", "Rosa", "Sam", "Tariq")  # fmt: skip
_LAST = ("Smith", "Garcia", "Mueller", "Kowalski", "Nguyen", "Rossi", "Okafor", "Silva",
         "Tanaka", "Dubois", "Larsen", "Haddad")  # fmt: skip
_ROLES = ("Product designer", "Nurse", "Teacher", "Software engineer", "Student", "Dad of two",
          "Mum of three", "Barista", "Architect", "Data analyst", "Freelance writer")  # fmt: skip
_INTERESTS = ("coffee", "trail running", "UX", "indie games", "photography", "cycling", "baking",
              "jazz", "gardening", "football", "sci-fi", "travel", "climbing", "vinyl")  # fmt: skip
_PLACES = ("Berlin", "Lyon", "Austin, TX", "Manchester", "São Paulo", "Lagos", "Osaka", "Toronto")
_PUNDITS = ("Tech reviewer", "Journalist", "Podcast host", "Chef & author", "Athlete", "Founder")
_HUSTLE = ("Growth marketer | helping brands scale", "Crypto & Web3 | DM for collabs",
           "Entrepreneur. Mindset. Hustle.", "Digital creator | link below",
           "Social media coach | 10x your reach")  # fmt: skip
_BEGGING = ("Follow back 100%", "F4F", "#TeamFollowBack #F4F", "I follow back everyone!",
            "follow me = follow back", "Gain followers fast #TFB")  # fmt: skip
_BLAND = ("Living my best life", "Mom. Wife. Dreamer.", "crypto | NFT | 100x", "Love travel")
_KINDS = tuple(InteractionKind)  # mention, reply, repost, quote, like, direct message
_KIND_WEIGHTS = (15, 20, 15, 5, 35, 10)
_DELETABLE = (InteractionKind.MENTION, InteractionKind.REPLY, InteractionKind.QUOTE)  # posts of theirs
_TEXTS = {
    InteractionKind.LIKE: ("@{a}: Behind the scenes of the spring collection",),
    InteractionKind.REPLY: ("@{a} this is exactly what I needed", "@{a} does it ship to Canada?"),
    InteractionKind.MENTION: ("Just got my order from @{a}!", "@{a} support was great today"),
    InteractionKind.REPOST: ("RT @{a}: New season, new drop.",),
    InteractionKind.QUOTE: ("Been waiting for this @{a}", "Finally! @{a}"),
    InteractionKind.DIRECT_MESSAGE: ("Hi @{a}, is there a student discount?",
                                     "Hello @{a}, a question about my order"),
}  # fmt: skip

_Step = tuple[datetime, str, EventType, Interaction | None]


def generate(
    *,
    followers: int = 3000,
    accounts: tuple[str, ...] = ("brand",),
    seed: int = 7,
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC),
    days: int = 14,
    brand_acts: bool = False,
) -> list[Event]:
    """Return the sample stream: events sorted by ``occurred_at``, ids ``sample-{seed}-{n}``."""
    events, _ = generate_with_personas(
        followers=followers, accounts=accounts, seed=seed, start=start, days=days, brand_acts=brand_acts
    )
    return events


def generate_with_personas(
    *,
    followers: int = 3000,
    accounts: tuple[str, ...] = ("brand",),
    seed: int = 7,
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC),
    days: int = 14,
    brand_acts: bool = False,
) -> tuple[list[Event], dict[str, str]]:
    """Like :func:`generate`, and also return each follower id's persona (see the module doc)."""
    if not accounts or followers < 0:
        raise ValueError("at least one account and a non-negative number of followers are needed")
    if days < 8:
        raise ValueError("days must be at least 8 (late unfollowers stay longer than 7 days)")
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    counts = {p: int(share * followers) for p, share in PERSONA_SHARES.items()}
    counts["ordinary"] += followers - sum(counts.values())
    personas = [p for p, n in counts.items() for _ in range(n)]
    rng.shuffle(personas)
    # Bought followers are delivered in a few bursts of about three hours per account.
    bursts = {a: [start + _uniform(rng, _HOUR, end - start - 4 * _HOUR) for _ in range(3)]
              for a in accounts}  # fmt: skip
    rows: list[tuple[datetime, int, Profile, _Step]] = []  # the int breaks ties in creation order
    brand_rng = random.Random(f"{seed}-brand")  # (its own stream: the followers' events stay the same)
    ends_rng = random.Random(f"{seed}-ends")  # (and the ends' own: the brand's acts draw as before)
    deletes: dict[int, int] = {}  # a deletion's row -> the deleted post's row
    persona_of: dict[str, str] = {}
    taken: set[str] = set()
    for persona in personas:
        account = rng.choice(accounts)
        if persona == "spam":
            at = rng.choice(bursts[account]) + _uniform(rng, _MIN, 3 * _HOUR)
            steps: list[_Step] = [(at, account, EventType.FOLLOW, None)]
        elif persona == "churner":
            steps = _churn(rng, account, accounts, start, end)
        else:
            steps = _timeline(rng, persona, account, start, end)
        profile = _profile(rng, persona, steps[0][0], taken)
        persona_of[profile.id] = persona
        for step in steps:
            rows.append((step[0], len(rows), profile, step))
        if brand_acts:
            acted = len(rows)
            _brand_acts(brand_rng, persona, steps, profile, end, rows, deletes)
            _ends_on_x(ends_rng, persona, steps[0], rows[acted:], profile, end, rows)
    rows.sort(key=lambda row: (row[0], row[1]))
    ids = {row[1]: f"sample-{seed}-{n}" for n, row in enumerate(rows)}
    events = [
        Event(event_id=ids[seq], type=kind, platform="x", account_id=account, follower=profile,
              interaction=interaction, deletes=ids[deletes[seq]] if seq in deletes else None,
              occurred_at=when)
        for _, seq, profile, (when, account, kind, interaction) in rows
    ]  # fmt: skip
    return events, persona_of


_Row = tuple[datetime, int, Profile, _Step]


def _brand_acts(
    rng: random.Random,
    persona: str,
    steps: list[_Step],
    profile: Profile,
    end: datetime,
    rows: list[_Row],
    deletes: dict[int, int],
) -> None:
    """The brand's blocks and follow-backs on X, and the follower's deleted posts (module doc);
    ``deletes`` gets each deletion's row number -> the deleted post's row number."""
    first, account = steps[0][0], steps[0][1]
    if persona == "spam" and rng.random() < 0.15:
        at = first + _uniform(rng, _HOUR, 48 * _HOUR)
        if at < end:
            rows.append((at, len(rows), profile, (at, account, EventType.BLOCKED, None)))
    elif persona == "influencer" and rng.random() < 0.3:
        at = first + _log_uniform(rng, 10 * _MIN, 2 * _DAY)
        if at < end:
            rows.append((at, len(rows), profile, (at, account, EventType.FOLLOWED_BACK, None)))
    elif persona == "engaged":
        posts = [r for r in rows[-len(steps) :] if r[3][3] is not None and r[3][3].kind in _DELETABLE]
        for post in posts:
            if rng.random() < 0.1:
                at = post[0] + _log_uniform(rng, _HOUR, 3 * _DAY)
                if at < end:
                    deletes[len(rows)] = post[1]
                    rows.append((at, len(rows), profile, (at, post[3][1], EventType.DELETED, None)))


def _ends_on_x(
    rng: random.Random,
    persona: str,
    follow: _Step,
    acted: list[_Row],
    profile: Profile,
    end: datetime,
    rows: list[_Row],
) -> None:
    """Suspensions, deactivations and blocks of the brand (module doc), after the brand's acts on this
    follower (``acted``: a blocked fake is not suspended). Each is drawn whether or not it falls in
    the window."""
    first, account = follow[0], follow[1]
    done = {row[3][2]: row[0] for row in acted}
    ends: list[tuple[datetime, EventType]] = []
    if persona == "spam" and EventType.BLOCKED not in done and rng.random() < 0.2:
        ends.append((first + _uniform(rng, 2 * _DAY, 6 * _DAY), EventType.SUSPENDED))
    elif persona == "ordinary":
        draw = rng.random()
        if draw < 0.01:
            ends.append((first + _log_uniform(rng, _DAY, 10 * _DAY), EventType.DEACTIVATED))
        elif draw < 0.03:  # (as the webhook maps a follower's block of the brand, in the detector's order)
            at = first + _uniform(rng, 7 * _DAY + _HOUR, max(end - first, 7 * _DAY + 2 * _HOUR))
            ends += [(at, EventType.UNFOLLOWED_BACK), (at, EventType.UNFOLLOW)]
    for at, kind in ends:
        if at < end:
            rows.append((at, len(rows), profile, (at, account, kind, None)))


def to_ndjson(events: Iterable[Event]) -> str:
    """Serialise events as NDJSON: one JSON object per line, each line ending in a newline."""
    return "".join(f"{event.model_dump_json()}\n" for event in events)


def write_ndjson(events: Iterable[Event], path: str | Path) -> int:
    """Write events to ``path`` as NDJSON (see :func:`to_ndjson`); return how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for count, event in enumerate(events, 1):  # noqa: B007 - the count is the result
            out.write(f"{event.model_dump_json()}\n")
    return count


def _uniform(rng: random.Random, low: timedelta, high: timedelta) -> timedelta:
    """A random duration in [low, high), at millisecond resolution."""
    low_ms, high_ms = low // timedelta(milliseconds=1), high // timedelta(milliseconds=1)
    return timedelta(milliseconds=rng.randrange(low_ms, max(high_ms, low_ms + 1)))


def _log_uniform(rng: random.Random, low: timedelta, high: timedelta) -> timedelta:
    """A random duration spread evenly on a log scale: as many minutes-long as hours-long."""
    exponent = rng.uniform(math.log(low.total_seconds()), math.log(high.total_seconds()))
    return timedelta(milliseconds=round(math.exp(exponent) * 1000))


def _timeline(rng: random.Random, persona: str, account: str, start: datetime, end: datetime) -> list[_Step]:
    """One follower's events on one account; ordinary, influencer, inactive: just the follow."""
    f, u = EventType.FOLLOW, EventType.UNFOLLOW
    if persona == "late_unfollower":
        t = start + _uniform(rng, timedelta(0), end - start - 8 * _DAY)
        gone = t + _uniform(rng, 7 * _DAY + _HOUR, end - t)
        return [(t, account, f, None), (gone, account, u, None)]
    if persona == "glitch":
        t = start + _uniform(rng, timedelta(0), end - start - _HOUR)
        gone = t + _uniform(rng, timedelta(seconds=3), 10 * _MIN)
        steps: list[_Step] = [(t, account, f, None), (gone, account, u, None)]
        if rng.random() < 0.4:
            steps.append((gone + _uniform(rng, timedelta(seconds=5), 5 * _MIN), account, f, None))
        return steps
    if persona != "engaged":
        return [(start + _uniform(rng, timedelta(0), end - start), account, f, None)]
    t = start + _uniform(rng, timedelta(0), (end - start) * 0.7)
    times = sorted(t + _uniform(rng, 5 * _MIN, end - t) for _ in range(rng.randint(1, 5)))
    kinds = rng.choices(_KINDS, weights=_KIND_WEIGHTS, k=len(times))
    said = [Interaction(kind=k, text=rng.choice(_TEXTS[k]).format(a=account)) for k in kinds]
    return [(t, account, f, None)] + [
        (w, account, EventType.INTERACTION, it) for w, it in zip(times, said, strict=True)
    ]


def _churn(
    rng: random.Random, account: str, accounts: tuple[str, ...], start: datetime, end: datetime
) -> list[_Step]:
    """Follow/unfollow cycles (1.5 h-4 d each) on one account, or on 2-3 for a quarter of them."""
    others = [a for a in accounts if a != account]
    targets = [account]
    if others and rng.random() < 0.25:
        targets += rng.sample(others, min(len(others), rng.randint(1, 2)))
    cycles = rng.choice((2, 3)) if rng.random() < 1 / 3 else 1
    plans = [[(_log_uniform(rng, 1.5 * _HOUR, 4 * _DAY), _log_uniform(rng, 2 * _HOUR, 2 * _DAY))
              for _ in range(cycles)] for _ in targets]  # fmt: skip
    need = max(sum((d + g for d, g in plan), timedelta(0)) for plan in plans) + 6 * _HOUR
    first = start + _uniform(rng, timedelta(0), max(end - start - need, _MIN))
    steps: list[_Step] = []
    for target, plan in zip(targets, plans, strict=True):
        t = first + _uniform(rng, timedelta(0), 6 * _HOUR)  # hops between accounts
        for dwell, gap in plan:
            if t + dwell >= end:
                break
            steps.append((t, target, EventType.FOLLOW, None))
            steps.append((t + dwell, target, EventType.UNFOLLOW, None))
            t += dwell + gap
    return sorted(steps, key=lambda s: s[0])


def _log_int(rng: random.Random, low: float, high: float) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _profile(rng: random.Random, persona: str, as_of: datetime, taken: set[str]) -> Profile:
    """A profile snapshot as of the follower's first event, in the platform's user-object fields."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    handles = (f"{first}{last}", f"{first}_{last[:3]}", f"{first.lower()}{rng.randint(1, 99)}")
    interests = " & ".join(rng.sample(_INTERESTS, 2))
    interests = interests[0].upper() + interests[1:]
    p: dict[str, Any] = {  # an ordinary real person; the other personas change some fields
        "screen_name": rng.choice(handles),
        "name": f"{first} {last}",
        "description": f"{rng.choice(_ROLES)}. {interests}." if rng.random() < 0.92 else "",
        "location": rng.choice((*_PLACES, "", "")),
        "followers_count": max(40, int(rng.lognormvariate(math.log(250), 0.9))),
        "statuses_count": max(80, int(rng.lognormvariate(math.log(1500), 1.0))),
        "listed_count": rng.choice((0, 0, 0, 1, 1, 2, 3, 5, 8)),
        "protected": rng.random() < 0.05,
        "default_profile": rng.random() < 0.3,
        "default_profile_image": rng.random() < 0.03,
    }
    age, idle = _DAY * rng.uniform(365, 14 * 365), _log_uniform(rng, 10 * _MIN, 5 * _DAY)
    if persona == "influencer":
        fans = _log_int(rng, 1e4, 2e6)
        p.update(
            followers_count=fans,
            statuses_count=_log_int(rng, 3e3, 1e5),
            listed_count=int(fans / rng.uniform(50, 150)),  # about 1% of their followers
            verified=rng.random() < 0.4,
            description=f"{rng.choice(_PUNDITS)} on {rng.choice(_INTERESTS)}. Opinions my own.",
            url=f"https://example.com/{p['screen_name'].lower()}",
            protected=False,
            default_profile_image=False,
        )
    elif persona == "inactive":
        age, idle = _DAY * rng.uniform(3 * 365, 14 * 365), _DAY * rng.uniform(120, 900)
        p.update(
            followers_count=max(40, int(rng.lognormvariate(math.log(120), 0.8))),
            statuses_count=rng.randint(60, 3000),
            description=p["description"] if rng.random() < 0.8 else "",
            default_profile_image=rng.random() < 0.15,
        )
    elif persona == "churner":
        age, fans = _DAY * rng.uniform(180, 6 * 365), _log_int(rng, 200, 5000)
        p.update(
            followers_count=fans,
            friends_count=int(fans * rng.uniform(1.2, 3)) + 300,
            statuses_count=rng.randint(300, 8000),
            listed_count=rng.randint(0, 3),
            description=rng.choice(_HUSTLE),
        )
    elif persona == "spam" and rng.random() < 0.9:  # a crude bought follower
        age = _DAY * rng.uniform(1, 25)
        idle = _uniform(rng, timedelta(0), age)
        begging, bland = rng.choice(_BEGGING), rng.choice(_BLAND)
        p.update(
            screen_name=f"{first.lower()}{rng.randint(10**7, 10**8 - 1)}",
            description=rng.choice(("", "", "", begging, begging, bland)),
            followers_count=rng.randint(0, 25),
            friends_count=rng.choice((2001, 2001, 1998, 3412, 4999, 5001)),
            statuses_count=rng.randint(0, 20),
            favourites_count=0 if rng.random() < 0.7 else rng.randint(1, 30),
            listed_count=0,
            protected=False,
            default_profile=rng.random() < 0.8,
            default_profile_image=rng.random() < 0.75,
        )
    elif persona == "spam":  # a better-made fake: a photo, a bland bio, some posts
        age, idle = _DAY * rng.uniform(40, 400), _log_uniform(rng, _HOUR, 20 * _DAY)
        p.update(
            description=rng.choice(_BLAND),
            followers_count=rng.randint(30, 120),
            friends_count=rng.randint(800, 2500),
            statuses_count=rng.randint(50, 300),
            listed_count=0,
            default_profile_image=False,
        )
    created = (as_of - age).replace(microsecond=0)  # the platform gives whole seconds
    while True:  # a snowflake: milliseconds since the platform epoch, then 22 random bits
        ms = max(round(created.timestamp() * 1000) - _TWEPOCH_MS, 0)
        fid = str((ms << 22) | rng.getrandbits(22))
        if fid not in taken:
            break
    while p["screen_name"] in taken:
        p["screen_name"] = f"{p['screen_name'][:12]}{rng.randint(0, 999)}"
    taken.update((fid, p["screen_name"]))
    fans, posts = p["followers_count"], p["statuses_count"]
    p.setdefault("friends_count", int(fans * rng.uniform(0.5, 2.0)) + rng.randint(20, 200))
    p.setdefault("favourites_count", int(posts * rng.uniform(0.5, 4.0)))
    if "url" not in p and rng.random() < 0.2:
        p["url"] = f"https://example.com/{p['screen_name'].lower()}"
    last_status = as_of - idle if posts else None
    return Profile(id=fid, created_at=created, last_status_at=last_status, **p)
