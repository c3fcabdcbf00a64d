"""Test support for the hub: a real worker process, and a reader that collects what a topic received.

Used by the hub's integration tests and benchmark; an operator may use ``TopicWatch`` the same way
to assert on a staging cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from hub.delivery.receiver import ReceiverState
from topics import codec
from topics.catalog import TopicSpec
from topics.connection import connection_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    """``tilik hub worker`` as a child process, with its log captured to a file."""

    def __init__(
        self,
        bootstrap: str,
        app_id: str,
        log_path: Path,
        *,
        rules: Path | None = None,
        routes: Path | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        client_config: Path | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.log_path = log_path
        self.web_port = free_port()
        self.rules = rules
        self.routes = routes
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        if client_config is not None:
            # The worker connects as this principal (the hub's, in a secure cluster).
            self.env["TILIK_CLIENT_CONFIG"] = str(client_config)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        args = [
            str(Path(sys.executable).parent / "tilik"),
            "hub",
            "worker",
            "--bootstrap",
            self.bootstrap,
            "--app-id",
            self.app_id,
            "--web-port",
            str(self.web_port),
            "--data-dir",
            str(self.log_path.parent / f"{self.app_id}-data"),
        ]
        if self.rules is not None:
            args += ["--rules", str(self.rules)]
        if self.routes is not None:
            args += ["--routes", str(self.routes)]
        args += self.extra_args
        env = {**os.environ, "TILIK_LOG_FORMAT": "json", **self.env}
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the worker serves /coverage and has partitions of its main topics assigned."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with session.get(
                        f"{self.url}/coverage", timeout=aiohttp.ClientTimeout(total=2)
                    ) as response:
                        if response.status == 200 and b"Worker ready" in self.log_text():
                            return
                await asyncio.sleep(0.3)
        raise TimeoutError(f"hub worker not ready after {timeout_s}s; log: {self.log_path}")

    def log_text(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"hub worker exited with {self.process.returncode}; log tail:\n"
                + self.log_text()[-4000:].decode("utf-8", "replace")
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


class TopicWatch:
    """Collects a topic's messages from the offsets it had when the watch started (no group)."""

    def __init__(self, bootstrap: str, spec: TopicSpec) -> None:
        self.bootstrap = bootstrap
        self.spec = spec
        self.messages: list[tuple[bytes | None, BaseModel | None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> TopicWatch:
        consumer = AIOKafkaConsumer(**connection_config(self.bootstrap), group_id=None)
        await consumer.start()
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(self.spec.name) or set()
        if not partitions:
            await consumer.stop()
            raise LookupError(
                f"{self.spec.name} does not exist yet: apply the catalog (`tilik topics apply`)"
            )
        tps = [TopicPartition(self.spec.name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, end[tp])
        self._consumer = consumer
        self._task = asyncio.create_task(self._collect(consumer))
        return self

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    try:
                        value = codec.decode(self.spec, record.value)
                    except codec.InvalidMessage:
                        value = None
                    self.messages.append((record.key, value))

    def values(self) -> list[Any]:
        return [value for _, value in self.messages if value is not None]

    async def wait_for(
        self, predicate: Callable[[list[Any]], bool], timeout_s: float = 30.0
    ) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            values = self.values()
            if predicate(values):
                return values
            await asyncio.sleep(0.1)
        raise TimeoutError(
            f"{self.spec.name}: condition not met; have {len(self.values())} messages"
        )

    async def caught_up(self, timeout_s: float = 30.0) -> list[Any]:
        """The values once everything the topic held when this was called has been collected:
        what an assertion of absence needs instead of a pause."""
        consumer = self._consumer
        assert consumer is not None, "start() first"
        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        end = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        # The collector task advances the positions; this only watches them.
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.spec.name}: not caught up with {end}")
            await asyncio.sleep(0.05)
        return self.values()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


class ReceiverThread:
    """The webhook receiver on its own event loop and thread, with injectable failures.

    ``fail_with`` holds what the next requests get instead of being received: an HTTP status, or
    ``"timeout"`` (the request is held past the hub's timeout). ``refuse_cameras`` fails every
    request about those cameras.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        hold_s: float = 3.0,
        port: int | None = None,
        state: ReceiverState | None = None,
    ) -> None:
        # A receiver restarted after an outage passes its predecessor's port and state: the hub
        # keeps the same URL and the repeats it sends are recognised.
        self.state = state if state is not None else ReceiverState(secret=secret)
        self.port = port if port is not None else free_port()
        self.fail_with: list[int | str] = []
        self.refuse_cameras: set[str] = set()
        self.requests = 0
        self.hold_s = hold_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: Any = None
        self._started = __import__("threading").Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tilik"

    def start(self) -> ReceiverThread:
        import threading

        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def _run(self) -> None:
        from aiohttp import web

        from hub.delivery.receiver import make_receiver_app

        @web.middleware
        async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests += 1
            if self.fail_with:
                fault = self.fail_with.pop(0)
                if fault == "timeout":
                    await asyncio.sleep(self.hold_s)
                    return web.Response(status=504)
                return web.Response(status=int(fault))
            if self.refuse_cameras:
                body = await request.read()
                if any(camera.encode() in body for camera in self.refuse_cameras):
                    return web.Response(status=503)
            return await handler(request)

        loop = asyncio.new_event_loop()
        self._loop = loop
        app = make_receiver_app(self.state, middlewares=[faults])
        runner = web.AppRunner(app, access_log=None)  # every dispatch is in state.accepted
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
