"""The SDK's HTTP/1.1 wire against raw devices on loopback: framing, keep-alive, limits, Digest.

Each device here is an ``asyncio`` server writing the exact bytes a test needs, so the cases a
well-behaved server never produces (a body framed by the close, a broken chunk size, a kept-alive
connection dropped while idle) are sent as they would arrive from a camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.sdk import DeviceDataError, RetriableError
from connectors.sdk.digest import DigestAnswer, challenge_params
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.http import DeviceHttp, HttpLimits, HttpPool
from connectors.sdk.secrets import Credentials
from connectors.sdk.wire import MAX_HEAD_BYTES, HeadError, parse_head

Handler = Callable[[bytes, asyncio.StreamWriter, "RawDevice"], Awaitable[bool]]


@dataclass
class RawDevice:
    """Counts connections; ``handler`` answers each request head (+ body) and says whether to
    keep the connection open."""

    handler: Handler
    port: int = 0
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    closed_by_client: int = 0
    requests: list[bytes] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                if not await self.handler(request, writer, self):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            self.open_now -= 1
            writer.close()


@contextlib.asynccontextmanager
async def raw_device(handler: Handler) -> AsyncIterator[RawDevice]:
    device = RawDevice(handler)
    server = await asyncio.start_server(device.serve, "127.0.0.1", 0)
    device.port = server.sockets[0].getsockname()[1]
    try:
        yield device
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


def ok(body: bytes = b"<ok/>", extra: str = "") -> Handler:
    async def handler(_request: bytes, writer: asyncio.StreamWriter, _device: RawDevice) -> bool:
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
        )
        await writer.drain()
        return "close" not in extra.lower()

    return handler


def replies(raw: bytes, *, keep: bool = False) -> Handler:
    async def handler(_request: bytes, writer: asyncio.StreamWriter, _device: RawDevice) -> bool:
        writer.write(raw)
        await writer.drain()
        return keep

    return handler


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    shared = HttpPool(HttpLimits(timeout_s=3))
    try:
        yield shared
    finally:
        await shared.close()


async def _get(port: int, path: str = "/x", pool: HttpPool | None = None) -> bytes:
    own = pool or HttpPool(HttpLimits(timeout_s=3))
    try:
        result = await own.exchange("GET", f"http://127.0.0.1:{port}{path}", device="dev-raw")
        return result.body
    finally:
        if pool is None:
            await own.close()


async def test_a_device_is_asked_many_times_over_one_kept_alive_connection(pool: HttpPool) -> None:
    async with raw_device(ok()) as device:
        for _ in range(5):
            assert await _get(device.port, pool=pool) == b"<ok/>"
    assert device.connections == 1
    assert len(device.requests) == 5
    first = device.requests[0].decode()
    assert first.startswith("GET /x HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{device.port}\r\n" in first


async def test_a_connection_the_device_closes_is_not_reused(pool: HttpPool) -> None:
    async with raw_device(ok(extra="Connection: close\r\n")) as device:
        for _ in range(3):
            assert await _get(device.port, pool=pool) == b"<ok/>"
    assert device.connections == 3


async def test_a_kept_alive_connection_dropped_while_idle_is_replaced_without_an_error(
    pool: HttpPool,
) -> None:
    # The device keeps the connection after answering, then drops it once the client is idle.
    async def answer_then_drop(request: bytes, writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        del request
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<ok/>")
        await writer.drain()
        await asyncio.sleep(0.05)
        return False  # closes the connection the client believes is kept alive

    async with raw_device(answer_then_drop) as device:
        assert await _get(device.port, pool=pool) == b"<ok/>"
        await asyncio.sleep(0.2)
        assert await _get(device.port, pool=pool) == b"<ok/>"
    assert device.connections == 2


async def test_a_reused_connection_dropped_unanswered_is_retried_once_on_a_new_one(
    pool: HttpPool,
) -> None:
    # The race the idle check cannot see: the device closes the kept-alive connection just as
    # the next request is written. It answers nothing on it; the request goes once more, new.
    served: dict[asyncio.StreamWriter, int] = {}  # keeps each writer (an id could be reused)

    async def once_per_connection(_r: bytes, writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        served[writer] = served.get(writer, 0) + 1
        if served[writer] > 1:
            return False  # closes without a byte of answer
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<ok/>")
        await writer.drain()
        return True

    async with raw_device(once_per_connection) as device:
        assert await _get(device.port, pool=pool) == b"<ok/>"
        assert await _get(device.port, pool=pool) == b"<ok/>"
    assert device.connections == 2
    assert len(device.requests) == 3


async def test_idle_connections_close_after_the_keepalive() -> None:
    async with raw_device(ok()) as device:
        pool = HttpPool(HttpLimits(timeout_s=3, keepalive_s=0.2))
        try:
            await _get(device.port, pool=pool)
            assert device.open_now == 1
            for _ in range(50):
                if device.open_now == 0:
                    break
                await asyncio.sleep(0.05)
            assert device.open_now == 0
            assert await _get(device.port, pool=pool) == b"<ok/>"
        finally:
            await pool.close()
    assert device.connections == 2


async def test_no_more_connections_to_one_device_than_its_limit() -> None:
    async def slow(_request: bytes, writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        await asyncio.sleep(0.1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return True

    async with raw_device(slow) as device:
        pool = HttpPool(HttpLimits(timeout_s=5, max_connections_per_host=2))
        try:
            bodies = await asyncio.gather(*(_get(device.port, pool=pool) for _ in range(6)))
        finally:
            await pool.close()
    assert bodies == [b"ok"] * 6
    assert device.most_open == 2


async def test_chunked_bodies_with_extensions_and_trailers_are_read_whole(pool: HttpPool) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=value\r\n<ok\r\n2\r\n/>\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    async with raw_device(replies(raw, keep=True)) as device:
        assert await _get(device.port, pool=pool) == b"<ok/>"
        assert await _get(device.port, pool=pool) == b"<ok/>"
    assert device.connections == 1  # read to its end: reused


async def test_a_body_without_length_is_read_to_the_close() -> None:
    raw = b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<old-firmware/>"
    async with raw_device(replies(raw)) as device:
        assert await _get(device.port) == b"<old-firmware/>"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "body framing"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n<ok/>\r\n", "framing"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n<ok/>\r\n0\r\n\r\n",
            "framing",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n", "malformed"),
        (b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "head is malformed"),
        (b"ICY 200 OK\r\n\r\n", "head is malformed"),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n", "head is malformed"),
        (b"HTTP/1.1 200 OK\r\n folded: x\r\nContent-Length: 0\r\n\r\n", "head is malformed"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "malformed"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n", "larger"),
    ],
)
async def test_malformed_responses_are_the_devices_data_errors(raw: bytes, reason: str) -> None:
    async with raw_device(replies(raw)) as device:
        with pytest.raises(DeviceDataError, match=reason) as caught:
            await _get(device.port)
    assert str(device.port) not in str(caught.value)


async def test_a_body_cut_short_is_retriable() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<only-part"
    async with raw_device(replies(raw)) as device:
        with pytest.raises(RetriableError, match="unreachable"):
            await _get(device.port)


async def test_a_header_that_would_split_the_request_is_refused_before_sending(
    pool: HttpPool,
) -> None:
    async with raw_device(ok()) as device:
        with pytest.raises(ConfigurationError, match="invalid request"):
            await pool.exchange(
                "GET",
                f"http://127.0.0.1:{device.port}/x",
                device="dev-raw",
                headers={"X-Test": "a\r\nX-Injected: 1"},
            )
    assert device.requests == []


async def test_a_slow_device_is_bounded_by_the_exchange_deadline() -> None:
    async def never(_request: bytes, _writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        await asyncio.sleep(10)
        return False

    async with raw_device(never) as device:
        pool = HttpPool(HttpLimits(timeout_s=0.3))
        try:
            with pytest.raises(RetriableError, match=r"no answer within 0\.3s"):
                await _get(device.port, pool=pool)
        finally:
            await pool.close()


async def test_a_stale_digest_nonce_is_answered_again_once() -> None:
    # The device issues a new nonce on every challenge and accepts each nonce once: the
    # remembered answer goes stale, is refused, and the fresh challenge is answered.
    password = "Rahasia-Digest-9"
    issued: list[str] = []

    async def digest(request: bytes, writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        head = request.decode("latin-1")
        auth = next((line for line in head.split("\r\n") if line.startswith("Authorization:")), "")
        params = challenge_params(auth.split(":", 1)[1]) if auth else None
        if params and params.get("nonce") in issued:
            issued.remove(params["nonce"])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<ok/>")
        else:
            nonce = f"n{len(issued)}-{id(writer)}"
            issued.append(nonce)
            challenge = f'Digest realm="cam", qop="auth", nonce="{nonce}", algorithm=MD5'
            writer.write(
                f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\n"
                f"Content-Length: 12\r\n\r\nunauthorized".encode()
            )
        await writer.drain()
        return True

    credentials = Credentials(username="admin", password=SecretStr(password))
    async with (
        raw_device(digest) as device,
        DeviceHttp(f"http://127.0.0.1:{device.port}", credentials=credentials) as http,
    ):
        assert (await http.get("/a")).body == b"<ok/>"
        assert (await http.get("/b")).body == b"<ok/>"
    assert len(device.requests) == 4  # 401 and 200, then the stale nonce refused and answered
    assert device.connections == 1
    assert not any(password.encode() in request for request in device.requests)


def test_digest_answers_match_the_rfc_7616_examples() -> None:
    challenge = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    expected = {
        "MD5": "8ca523f5e9506fed4657c9700eebdbec",
        "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    }
    for algorithm, response in expected.items():
        answer = DigestAnswer("Mufasa", "Circle of Life")
        assert answer.take(challenge.format(algorithm))
        value = answer.authorization("GET", "/dir/index.html", cnonce=cnonce)
        params = challenge_params(value)
        assert params is not None
        assert params["response"] == response
        assert params["nc"] == "00000001" and params["qop"] == "auth"
        assert params["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
        assert "Circle of Life" not in value


def test_a_challenge_the_client_cannot_answer_is_not_taken() -> None:
    answer = DigestAnswer("admin", "x")
    assert not answer.take('Basic realm="cam"')
    assert not answer.take('Digest realm="cam", nonce="n", algorithm=SHA-1-unknown')
    assert not answer.take('Digest realm="cam", nonce="n", qop="auth-int"')
    assert not answer.ready
    assert answer.take('Digest realm="cam", nonce="n"')  # RFC 2069: no qop
    assert "qop" not in answer.authorization("GET", "/")


async def test_closing_the_pool_ends_a_stream_being_read() -> None:
    async def stream_then_stall(_r: bytes, writer: asyncio.StreamWriter, _: RawDevice) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\npart-1\r\n")
        await writer.drain()
        await asyncio.sleep(10)
        return False

    async with raw_device(stream_then_stall) as device:
        http = DeviceHttp(f"http://127.0.0.1:{device.port}", timeout_s=30)
        await http.open()
        chunks: list[bytes] = []

        async def read() -> None:
            async with http.stream("/events") as stream:
                async for chunk in stream:
                    chunks.append(chunk)

        reader = asyncio.create_task(read())
        async with asyncio.timeout(5):
            while not chunks:
                await asyncio.sleep(0.01)
        await http.close()
        with pytest.raises(RetriableError, match="stream broken"):
            await asyncio.wait_for(reader, 2)
    assert chunks == [b"part-1"]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_response_head_parses_or_is_refused_as_the_devices_input(head: bytes) -> None:
    with contextlib.suppress(HeadError):
        status, _modern, headers = parse_head(b"HTTP/1.1 200 OK\r\n" + head)
        assert status == 200
        assert all(name and "\r" not in name and "\n" not in name for name in headers)
    with contextlib.suppress(HeadError):
        parse_head(head)


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "camera.local")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def test_https_devices_are_verified_unless_the_config_says_not_to(tmp_path: Path) -> None:
    # A recorder with the self-signed certificate most firmware ships: refused while verifying
    # (a reason without the device's bytes), read when the owner's config turns verification off.
    device = RawDevice(ok())
    server = await asyncio.start_server(device.serve, "127.0.0.1", 0, ssl=_self_signed(tmp_path))
    port = server.sockets[0].getsockname()[1]
    try:
        async with DeviceHttp(f"https://127.0.0.1:{port}", timeout_s=5) as http:
            with pytest.raises(RetriableError, match="unreachable"):
                await http.get("/ISAPI/System/deviceInfo")
        async with DeviceHttp(f"https://127.0.0.1:{port}", timeout_s=5, verify_tls=False) as http:
            assert (await http.get("/ISAPI/System/deviceInfo")).body == b"<ok/>"
            assert (await http.get("/ISAPI/System/deviceInfo")).body == b"<ok/>"
    finally:
        server.close()
    assert device.requests[0].startswith(b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\n")
    assert len(device.requests) == 2
    # The refused handshake never reached the handler; both requests went on one connection.
    assert device.connections == 1
