"""``tilik demo --map``: the command-center map beside the demo. ``tilik api serve`` runs as the
API's own principal; the demo waits until it answers, issues an operator key to sign in with and
says where the map is (and opens it in a browser when asked)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import click

from core.settings import Settings

# How long the API may take to read its topics and answer.
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class MapAccess:
    """Where the map is and the operator key that opens it."""

    url: str
    public_url: str
    key: str

    def __repr__(self) -> str:
        return f"MapAccess(url={self.url!r}, public_url={self.public_url!r}, key=<hidden>)"


def wait_answering(
    child: subprocess.Popen[bytes], health_url: str, timeout_s: float = START_TIMEOUT_S
) -> None:
    """Until ``health_url`` answers 200; a child that ends first, or a timeout, stops the demo."""
    deadline = time.monotonic() + timeout_s
    while True:
        if child.poll() is not None:
            raise click.ClickException("tilik api ended at start; see api.log under the demo dir")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise click.ClickException(f"tilik api did not answer within {timeout_s:.0f}s")
        time.sleep(0.2)


def operator_key(operator: Settings) -> str:
    """A new operator key, written to the keys topic as the operator (``tilik keys add operator``)."""
    from api.keys import KeyStore
    from topics.models import ApiKeyKind

    async def issue() -> str:
        async with KeyStore(component="demo.keys", settings=operator) as store:
            await store.ready.wait()
            issued = await store.issue(ApiKeyKind.OPERATOR, None, actor="demo", label="tilik demo")
            return issued.key.token

    return asyncio.run(issue())


def announce(access: MapAccess, *, open_browser: bool) -> None:
    click.echo(f"map: {access.url}  (sign in with the operator key below)")
    click.echo(f"public map: {access.public_url}")
    click.echo(f"operator key: {access.key}")
    if open_browser:
        import webbrowser

        webbrowser.open(access.url)
