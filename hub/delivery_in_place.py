"""Faust's hand-off of each fetched message to its streams, without a task per message.

faust-streaming 0.15.3 hands every message its consumer fetched to the conductor (which puts it
on the queue of each stream reading its topic) inside ``Service.wait_first``: four tasks and an
``asyncio.wait`` per message, so that a rebalance suspending the flow can cut a delivery that
waits on a full queue short. About 70 us of CPU per message: an eighth of what a worker spends
on a typical event (docs/hub.md, "Where a worker's time goes").

The conductor almost never waits: only when the flow is suspended, the producer's buffer is full
or a stream's queue is. ``drain_in_place`` runs the same loop as Faust's ``_drain_messages``
(same offsets kept, gaps noted, commits, yields to the loop every 100 messages) but runs each
delivery in the drain's own task. A delivery that finishes without waiting costs a coroutine step; one
that waits is carried on in a task raced against the suspension exactly as Faust does, so what a
suspension cuts short (``hub.faust_workarounds``, defect 4) is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog
from faust.transport.consumer import CONSUMER_FETCHING

log = structlog.get_logger(__name__)

#: Faust's drain yields to the event loop after this many messages of one fetch
YIELD_EVERY = 100


async def drain_in_place(consumer: Any, fetcher: Any) -> None:
    """``Consumer._drain_messages`` for ``consumer`` (the loop ``fetcher`` runs until stopped)."""
    read_offset = consumer._read_offset
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    commit_every = consumer._commit_every
    stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    try:
        while not (stopped() or fetcher_stopped()):
            consumer.diag.set_flag(CONSUMER_FETCHING)
            fetched = consumer.getmany(timeout=1.0)
            await asyncio.sleep(0)  # getmany may answer at once, loop after loop
            if consumer.should_stop:
                continue
            since_yield = 0
            async for tp, message in fetched:
                since_yield += 1
                if since_yield > YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)
                offset = message.offset
                last = read_offset[tp]
                if last is not None and offset < last:
                    continue  # delivered before
                if last and offset - last > 1 and acks_enabled_for(message.topic):
                    await consumer._add_gap(tp, last + 1, offset)
                if commit_every is not None and consumer._n_acked >= commit_every:
                    consumer._n_acked = 0
                    await consumer.commit()
                await deliver(consumer, consumer.callback(message))
                read_offset[tp] = offset
            consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            return  # stopping anyway
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            return
        raise
    except Exception as exc:
        log.exception("fetched messages not delivered", error_type=type(exc).__name__)
        raise
    finally:
        consumer.diag.unset_flag(CONSUMER_FETCHING)


async def deliver(consumer: Any, delivery: Coroutine[Any, Any, Any]) -> None:
    """Run one delivery in this task as far as it goes without waiting; the rest, if any, raced
    against the flow's suspension as Faust's own drain races all of it."""
    suspended = consumer.suspend_flow
    if suspended.is_set():
        await consumer.wait_first(delivery, suspended.wait())
        return
    try:
        waits_on = step(delivery)
    except StopIteration:
        return
    await consumer.wait_first(carry_on(delivery, waits_on), suspended.wait())


async def carry_on(delivery: Coroutine[Any, Any, Any], waits_on: Any) -> None:
    """Drive a started coroutine to its end as an asyncio task would: ``waits_on`` is what it
    yielded last (a future it waits on, or ``None`` for a bare yield to the loop)."""
    try:
        while True:
            if waits_on is None:
                await asyncio.sleep(0)
            elif asyncio.isfuture(waits_on):
                waits_on._asyncio_future_blocking = False  # taken on, as a task does
                try:
                    await asyncio.wait([waits_on])  # its outcome is the delivery's to read
                except asyncio.CancelledError:
                    waits_on.cancel()
                    raise
            else:
                raise RuntimeError(f"a delivery yielded {waits_on!r}, not a future")
            try:
                waits_on = step(delivery)
            except StopIteration:
                return
    except asyncio.CancelledError:
        cancel(delivery)
        raise
    except BaseException:
        delivery.close()
        raise


def step(delivery: Coroutine[Any, Any, Any]) -> Any:
    """Run a started (or new) coroutine to its next wait: what it yields; ``StopIteration`` when
    it ends."""
    resume = delivery.send  # a coroutine's own send: nothing reaches Kafka here
    return resume(None)


def cancel(delivery: Coroutine[Any, Any, Any]) -> None:
    """Cancel a started coroutine where it waits, as cancelling its task would."""
    try:
        delivery.throw(asyncio.CancelledError())
    except (asyncio.CancelledError, StopIteration):
        return
    delivery.close()
