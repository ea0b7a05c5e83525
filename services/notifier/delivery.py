"""The delivery worker: claims outbox rows, sends them, and records each outcome.

It runs as a task in the notifier's lifespan. Each row is marked ``sending`` in its own committed
statement before the send and settled after it, so a crash leaves at most the rows in flight in
doubt; those are never sent twice (see :func:`outbox.recover_interrupted`). Failures back off
exponentially (with jitter, so a recovering receiver is not hit by every row at once). Its rounds
also keep the gauge of pushes waiting for budget room true to the database (see ``_report_budgets``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Mapping

import asyncpg

from services.notifier import budget, outbox
from services.notifier.channels import Channel, InDoubtError, Outgoing, PermanentError, RetryableError
from shared.metrics import DELIVERIES
from shared.settings import NotifierSettings

log = logging.getLogger(__name__)
# How a send ended, counted per channel in ``followback_deliveries_total`` (the alerts on failing
# channels read them: deploy/prometheus/alerts.yml).
OUTCOMES = ("sent", "retrying", "dead", "unknown")
# How often the worker reads the pushes waiting for budget room into their gauge (Prometheus scrapes
# every 5 s): see budget.report_waiting.
BUDGET_REPORT_INTERVAL_S = 5.0


def backoff_s(attempts: int, settings: NotifierSettings, rng: random.Random | None = None) -> float:
    """The wait after the ``attempts``-th failed send: doubling from the base, capped, jittered."""
    ceiling = min(settings.retry_cap_s, settings.retry_base_s * 2.0 ** max(0, attempts - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


class DeliveryWorker:
    def __init__(
        self, pool: asyncpg.Pool, channels: Mapping[str, Channel], settings: NotifierSettings
    ) -> None:
        self.pool, self.channels, self.settings = pool, dict(channels), settings
        self.worker_id = f"notifier-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._next_budget_report = 0.0  # (time.monotonic(): at the first round)
        for name in self.channels:  # exported at 0 from the start, so the first failure shows as one
            for outcome in OUTCOMES:
                DELIVERIES.labels(name, outcome)

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; a database outage, or any other failure of a round, only pauses it.

        Any exception, not only the expected ones: asyncpg can also raise InternalClientError when
        PostgreSQL goes away mid-operation (seen in tests/faults/test_postgres_outage.py), and a
        worker task that ended would leave every push unsent while the service looked healthy.
        """
        failures = 0
        while True:
            try:
                busy = await self.step()
                failures = 0
            except Exception as error:
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                expected = isinstance(error, OSError | asyncpg.PostgresError | asyncpg.InterfaceError)
                log.warning("delivery worker: %r; trying again in %.1fs", error, wait, exc_info=not expected)
                await asyncio.sleep(wait)
                continue
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
                self._wake.clear()

    async def step(self) -> bool:
        """One round: report the pushes waiting for budget room (every few seconds), settle interrupted
        sends, claim due rows, send them. True if any were sent."""
        resendable = [name for name, channel in self.channels.items() if channel.deduplicates]
        async with self.pool.acquire() as conn:
            await self._report_budgets(conn)  # (before any claim: a claimed row must be sent)
            if interrupted := await outbox.recover_interrupted(conn, self.settings.lease_s, resendable):
                log.warning("%d deliveries were interrupted mid-send by a stop", interrupted)
            await outbox.cancel_orphaned_retractions(conn)
            claimed = await outbox.claim(conn, self.settings.claim_batch, self.worker_id)
        if claimed:
            await asyncio.gather(*(self._deliver(message) for message in claimed))
        return bool(claimed)

    async def _report_budgets(self, conn: asyncpg.Connection) -> None:
        """The pushes waiting for budget room, from the database, every few seconds: they also stop
        waiting when no decision comes (budget.report_waiting). A failure is logged and leaves the
        sends alone: the figure is only a report."""
        if time.monotonic() < self._next_budget_report:
            return
        self._next_budget_report = time.monotonic() + BUDGET_REPORT_INTERVAL_S
        try:
            await budget.report_waiting(conn, self.settings.budget_carry_over_days)
        except Exception as error:  # (never a reason to hold the sends back)
            expected = isinstance(error, OSError | asyncpg.PostgresError | asyncpg.InterfaceError)
            log.warning(
                "could not report the pushes waiting for budget room: %r", error, exc_info=not expected
            )

    async def _deliver(self, message: Outgoing) -> None:
        channel = self.channels.get(message.channel)
        try:
            if channel is None:
                raise PermanentError(f"channel {message.channel!r} is not available in this notifier")
            await asyncio.wait_for(channel.send(message), self.settings.send_timeout_s * 2)
        except RetryableError as error:
            await self._failed(message, error, retry=True)
        except PermanentError as error:
            await self._failed(message, error, retry=False)
        except (InDoubtError, TimeoutError) as error:
            dedup = channel is not None and channel.deduplicates
            await self._failed(message, error, retry=dedup, doubt=not dedup)
        except Exception as error:
            # A bug in a channel must not stop the worker; the row stays visible with the error.
            log.exception("delivery %s failed unexpectedly", message.delivery_id)
            await self._failed(message, error, retry=True)
        else:
            DELIVERIES.labels(message.channel, "sent").inc()
            async with self.pool.acquire() as conn:
                await outbox.mark_sent(conn, message.delivery_id, self.worker_id)

    async def _failed(self, message: Outgoing, error: Exception, *, retry: bool, doubt: bool = False) -> None:
        text = f"{type(error).__name__}: {error}"
        if doubt:
            status = "unknown"
        elif retry and message.attempts < self.settings.max_attempts:
            status = "retrying"
        else:
            status = "dead"
        wait = backoff_s(message.attempts, self.settings) if status == "retrying" else 0.0
        DELIVERIES.labels(message.channel, status).inc()
        log.warning(
            "delivery %s (%s %s, attempt %d) -> %s: %s",
            message.delivery_id, message.channel, message.kind, message.attempts, status, text,
        )  # fmt: skip
        async with self.pool.acquire() as conn:
            await outbox.mark_failed(conn, message.delivery_id, self.worker_id, status, text, wait)
