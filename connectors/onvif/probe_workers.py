"""Probing ONVIF devices in worker processes, so the connector's CPU spreads over the cores.

Onboarding stays one pipeline in one process (``connectors.sdk.onboard``: merge, publish,
audit); with ``processes`` above 1 only the raw SOAP probe of each device runs in one of that
many workers (``python -m connectors.onvif.probe_workers``), each with its own transport, and
the device's snapshot comes back. The probe is the connector's CPU (a dozen requests per
camera); one Python process runs it on one core whatever the machine has.

A worker probes inside the SDK's per-device boundary (``isolated``, the device's deadline), so
whatever goes wrong comes back as the SDK error it became (its type, message and the payload a
dead letter keeps) and is raised again here for the pipeline to handle as if probed in process.
Workers inherit the environment (credential references resolve there as here), log to stderr,
and end when their input closes. A worker that dies fails its devices in flight as retriable.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from connectors.onvif.connector import OnvifConfig, config_device
from connectors.onvif.device import DeviceInfo, DeviceSnapshot, MediaProfile, ServiceAddresses
from connectors.onvif.soap import SoapTransport
from connectors.sdk.boundary import device_deadline_s, isolated
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.http import HttpLimits

#: the error types a worker reports, by name (a subclass travels as the SDK type it extends)
_ERRORS: dict[str, type[ConnectorError]] = {
    cls.__name__: cls
    for cls in (
        DeviceDataError,
        AuthenticationError,
        ConfigurationError,
        FatalConnectorError,
        RetriableError,
        ConnectorError,
    )
}
#: how long a worker may take to start (imports, on a busy machine)
_START_S = 120.0
# Lines between the processes: a snapshot of 64 profiles is well under this.
_LINE_LIMIT = 16 * 1024 * 1024


def snapshot_document(snapshot: DeviceSnapshot) -> dict[str, Any]:
    document = asdict(snapshot)
    document["clock_offset"] = snapshot.clock_offset.total_seconds()
    return document


def snapshot_of(document: dict[str, Any]) -> DeviceSnapshot:
    return DeviceSnapshot(
        address=document["address"],
        info=DeviceInfo(**document["info"]),
        services=ServiceAddresses(**document["services"]),
        scopes=list(document["scopes"]),
        mac=document["mac"],
        profiles=[MediaProfile(**profile) for profile in document["profiles"]],
        clock_offset=timedelta(seconds=document["clock_offset"]),
    )


def error_document(exc: ConnectorError) -> dict[str, Any]:
    kind = next(name for name, cls in _ERRORS.items() if isinstance(exc, cls))
    document: dict[str, Any] = {"type": kind, "message": str(exc), "device": exc.device}
    payload = exc.payload if isinstance(exc, DeviceDataError) else None
    if isinstance(payload, str):
        document["text"] = payload
    elif payload is not None:
        document["payload"] = base64.b64encode(payload).decode()
    return document


def error_of(document: dict[str, Any]) -> ConnectorError:
    cls = _ERRORS.get(document["type"], FatalConnectorError)
    if cls is DeviceDataError:
        payload: bytes | str | None = document.get("text")
        if "payload" in document:
            payload = base64.b64decode(document["payload"])
        return DeviceDataError(document["message"], device=document["device"], payload=payload)
    return cls(document["message"], device=document["device"])


class ProbeWorkers:
    """``processes`` worker processes probing devices; ``snapshot(config)`` is one device's probe.

    ``async with ProbeWorkers(2, limits) as workers: snapshot = await workers.snapshot(config)``
    """

    def __init__(
        self, processes: int, limits: HttpLimits, *, deadline_s: float | None = None
    ) -> None:
        self.processes = processes
        self.limits = limits
        #: each device's whole probe (default: the SDK's ``device_deadline_s`` of its timeout)
        self.deadline_s = deadline_s
        self._workers: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._pending: dict[int, tuple[int, asyncio.Future[dict[str, Any]]]] = {}
        self._ids = itertools.count()
        self._next = itertools.cycle(range(processes))

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self._workers]

    async def __aenter__(self) -> ProbeWorkers:
        for _ in range(self.processes):
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                json.dumps(asdict(self.limits)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
            self._workers.append(worker)
        # A worker's start (imports, its transport) must not count against any device's deadline.
        for index, worker in enumerate(self._workers):
            assert worker.stdout is not None
            ready = await asyncio.wait_for(worker.stdout.readline(), _START_S)
            if json.loads(ready or b"{}").get("ready") is not True:
                await self.__aexit__()
                raise RuntimeError("a probe worker did not start")
            self._readers.append(asyncio.create_task(self._read_answers(index, worker)))
        return self

    async def __aexit__(self, *_: object) -> None:
        for worker in self._workers:
            if worker.stdin is not None:
                worker.stdin.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.wait(), 10)
            except TimeoutError:
                worker.kill()
                await worker.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def snapshot(self, config: OnvifConfig) -> DeviceSnapshot:
        index = next(self._next)
        worker = self._workers[index]
        if worker.returncode is not None or worker.stdin is None:
            raise RetriableError("probe worker is not running", device=config.address)
        request_id = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (index, answer)
        deadline_s = self.deadline_s or device_deadline_s(config.timeout_s)
        line = {
            "id": request_id,
            "config": config.model_dump(mode="json"),
            "deadline_s": deadline_s,
        }
        try:
            worker.stdin.write(json.dumps(line).encode() + b"\n")
            document = await answer
        finally:
            self._pending.pop(request_id, None)
        if "error" in document:
            raise error_of(document["error"])
        return snapshot_of(document["snapshot"])

    async def _read_answers(self, index: int, worker: asyncio.subprocess.Process) -> None:
        assert worker.stdout is not None
        while line := await worker.stdout.readline():
            try:
                document = json.loads(line)
                request_id = document["id"]
            except (ValueError, KeyError, TypeError):
                continue  # not an answer: something in the worker wrote to stdout
            pending = self._pending.get(request_id)
            if pending is not None and not pending[1].done():
                pending[1].set_result(document)
        # The worker ended: what it had not answered fails (retriable, as a lost connection).
        for request_id, (owner, answer) in list(self._pending.items()):
            if owner == index and not answer.done():
                answer.set_result(
                    {
                        "id": request_id,
                        "error": error_document(
                            RetriableError("probe worker ended before answering")
                        ),
                    }
                )


async def _serve(limits: HttpLimits) -> None:
    """A worker: one probe per input line, answered on stdout as it finishes."""
    loop = asyncio.get_running_loop()
    requests = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(requests), sys.stdin)
    out = sys.stdout.buffer
    tasks: set[asyncio.Task[None]] = set()

    async with SoapTransport(limits) as transport:
        out.write(b'{"ready": true}\n')
        out.flush()

        async def probe(request: dict[str, Any]) -> None:
            answer: dict[str, Any] = {"id": request["id"]}
            try:
                config = OnvifConfig.model_validate(request["config"])
                snapshot = await isolated(
                    lambda: config_device(config, transport).snapshot(),
                    device=config.address,
                    deadline_s=request["deadline_s"],
                )
            except ConnectorError as exc:
                answer["error"] = error_document(exc)
            else:
                answer["snapshot"] = snapshot_document(snapshot)
            out.write(json.dumps(answer).encode() + b"\n")
            out.flush()

        while line := await requests.readline():
            task = asyncio.create_task(probe(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


def main() -> None:
    from core.collector import tune_gc
    from core.logconfig import configure_logging

    configure_logging(force=True)
    tune_gc()
    asyncio.run(_serve(HttpLimits(**json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
