"""DeviceHttp against a real aiohttp server on loopback: auth, size caps, timeouts, translation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr

from connectors.sdk import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.http import DeviceHttp, HttpStatusError
from connectors.sdk.secrets import Credentials
from connectors.sdk.simulator import device_auth_middleware, run_loopback_site

PASSWORD = "s3cret-Pa55"


async def _small(_: web.Request) -> web.Response:
    return web.Response(text="<ok/>", content_type="application/xml")


async def _huge(_: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()  # chunked: no Content-Length, the cap must hold while reading
    await response.prepare(_)
    for _i in range(100):
        await response.write(b"x" * 10_000)
    return response


async def _slow(_: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def _huge_header(_: web.Request) -> web.Response:
    return web.Response(text="<ok/>", headers={"X-Padding": "x" * (4 * 1024 * 1024)})


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]))


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"part-1")
    await asyncio.sleep(0.05)
    await response.write(b"part-2")
    await asyncio.sleep(5)  # then idle: the reader must give up
    return response


@pytest.fixture
async def device(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    scheme = getattr(request, "param", "digest")
    app = web.Application(middlewares=[device_auth_middleware({"admin": PASSWORD}, scheme=scheme)])
    app.router.add_get("/small", _small)
    app.router.add_get("/huge", _huge)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/huge-header", _huge_header)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/stream", _stream)
    async with run_loopback_site(app) as port:
        yield f"http://127.0.0.1:{port}"


def _creds(password: str = PASSWORD) -> Credentials:
    return Credentials(username="admin", password=SecretStr(password))


async def test_digest_auth_fetches_body(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds()) as http:
        result = await http.get("/small")
    assert result.body == b"<ok/>"
    assert result.content_type == "application/xml"


@pytest.mark.parametrize("device", ["basic"], indirect=True)
async def test_basic_auth_fetches_body(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds(), auth="basic") as http:
        assert await http.get_text("/small") == "<ok/>"


async def test_wrong_password_is_authentication_error_without_the_password(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds("wrong-" + PASSWORD), device="dev-1") as http:
        with pytest.raises(AuthenticationError) as info:
            await http.get("/small")
    assert "401" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.device == "dev-1"


async def test_oversized_chunked_body_stops_at_the_cap(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds(), max_response_bytes=50_000) as http:
        with pytest.raises(DeviceDataError, match="50000 byte limit") as info:
            await http.get("/huge")
    assert isinstance(info.value.payload, bytes) and 0 < len(info.value.payload) <= 4096


async def test_timeout_is_retriable(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds(), timeout_s=0.3) as http:
        with pytest.raises(RetriableError, match=r"no answer within 0\.3s"):
            await http.get("/slow")


async def test_a_response_header_over_the_client_limits_is_device_data(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds(), device="dev-1") as http:
        with pytest.raises(DeviceDataError, match="response head") as info:
            await http.get("/huge-header")
        # The session is still usable for the next request.
        assert (await http.get("/small")).body == b"<ok/>"
    assert info.value.device == "dev-1"
    assert "xxxx" not in str(info.value)


@pytest.mark.parametrize(
    ("code", "error"),
    [(500, RetriableError), (503, RetriableError), (429, RetriableError), (404, HttpStatusError)],
)
async def test_status_codes_translate_by_next_action(
    device: str, code: int, error: type[Exception]
) -> None:
    async with DeviceHttp(device, credentials=_creds()) as http:
        with pytest.raises(error, match=f"HTTP {code}"):
            await http.get(f"/status/{code}?token=abc")


async def test_allowed_status_is_returned(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds()) as http:
        result = await http.get("/status/404", allow_status={404})
    assert result.status == 404


async def test_error_messages_drop_the_query_string(device: str) -> None:
    async with DeviceHttp(device, credentials=_creds()) as http:
        with pytest.raises(HttpStatusError) as info:
            await http.get("/status/404?token=abc")
    assert "token" not in str(info.value)
    assert info.value.status == 404


async def test_refused_connection_is_retriable() -> None:
    async with DeviceHttp("http://127.0.0.1:9", credentials=_creds(), timeout_s=2) as http:
        with pytest.raises(RetriableError):
            await http.get("/small")


async def test_address_with_credentials_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        DeviceHttp(f"http://admin:{PASSWORD}@127.0.0.1:80")
    assert PASSWORD not in str(info.value)


async def test_stream_yields_chunks_then_idle_timeout_is_retriable(device: str) -> None:
    received = b""
    async with DeviceHttp(device, credentials=_creds()) as http:
        with pytest.raises(RetriableError, match="idle"):
            async with http.stream("/stream", idle_timeout_s=0.5) as chunks:
                async for chunk in chunks:
                    received += chunk
    assert received == b"part-1part-2"
