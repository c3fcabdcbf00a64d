"""``tilik vault``: make the vault's key file, hand the API its public half, rotate keys.

    tilik vault keygen vault.keys             # a new key file, mode 0600
    tilik vault public vault.keys > vault.pub # what tilik api seals to (TILIK_VAULT_PUBLIC_KEY_FILE)
    tilik vault keygen --add vault.keys       # rotation: a new newest key ...
    tilik vault rotate --key-file vault.keys  # ... every sealed credential sealed again under it
    tilik vault retire OLD_KEY_ID --key-file vault.keys   # ... and the old key dropped

``rotate`` and ``retire`` read the sealed credentials topic as the operator (the local admin, or
``TILIK_CLIENT_CONFIG``). docs/vault.md.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.vault import KeyRing, append_key, new_key, reseal, write_key_file

ACTOR = "operator (tilik vault)"


@click.group()
def vault() -> None:
    """The credential vault: key files and key rotation (docs/vault.md)."""


def _key_file(path: Path | None) -> Path:
    if path is not None:
        return path
    from core.settings import get_settings

    configured = get_settings().vault_key_file
    if configured is None:
        raise click.UsageError("give --key-file or set TILIK_VAULT_KEY_FILE")
    return configured


_key_file_option = click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The vault key file (default: TILIK_VAULT_KEY_FILE).",
)


@vault.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--add", is_flag=True, help="Add a new newest key to an existing key file.")
def keygen(path: Path, add: bool) -> None:
    """Write a new key file (mode 0600; never over an existing one), or --add a key to one."""
    key = new_key()
    try:
        if add:
            ring = append_key(path, key)
            click.echo(f"added {key.key_id}: it seals from now on; {len(ring.keys)} keys open")
        else:
            write_key_file(path, [key])
            click.echo(f"wrote {path} with key {key.key_id}")
    except FileExistsError:
        raise click.ClickException(f"{path} exists: use --add to add a key to it") from None
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"give tilik api its public half: tilik vault public {path}", err=True)


@vault.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def public(path: Path) -> None:
    """Print the public key file of a key file (safe to give tilik api)."""
    try:
        click.echo(KeyRing.read(path).public_text(), nl=False)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


@vault.command()
@_key_file_option
def rotate(key_file: Path | None) -> None:
    """Seal every sealed credential again under the key file's newest key."""
    try:
        ring = KeyRing.read(_key_file(key_file))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    resealed, failed = asyncio.run(reseal_all(ring))
    click.echo(f"{resealed} sealed again under {ring.newest.key_id}; {len(failed)} not opened")
    for reason in failed:
        click.echo(f"  {reason}", err=True)
    if failed:
        sys.exit(1)


async def reseal_all(ring: KeyRing) -> tuple[int, list[str]]:
    """Seal again every record not under the ring's newest key: (how many, why others were not)."""
    from topics.catalog import SEALED_CREDENTIALS
    from topics.client import CatalogProducer, read_table
    from topics.models import SealedCredential

    async with CatalogProducer(client_id="tilik-vault") as producer:
        table = await read_table(SEALED_CREDENTIALS, component="vault", producer=producer)
        resealed = []
        failed = []
        for record in table.values():
            if not isinstance(record, SealedCredential) or record.key_id == ring.newest.key_id:
                continue
            try:
                resealed.append(reseal(record, ring, actor=ACTOR))
            except ConfigurationError as exc:
                # Kept as it is: a record nobody can open is not made worse by a rotation.
                failed.append(str(exc))
        await producer.send_batch(SEALED_CREDENTIALS, resealed)
    return len(resealed), failed


@vault.command()
@click.argument("key_id")
@_key_file_option
def retire(key_id: str, key_file: Path | None) -> None:
    """Drop a key from the key file, refused while a sealed credential still needs it."""
    path = _key_file(key_file)
    try:
        ring = KeyRing.read(path)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if ring.get(key_id) is None:
        raise click.ClickException(f"no key {key_id} in {path}")
    if key_id == ring.newest.key_id:
        raise click.ClickException(f"{key_id} is the newest key, which seals: add another first")
    using = asyncio.run(_sealed_under(key_id))
    if using:
        raise click.ClickException(
            f"{using} sealed credential(s) still need {key_id}: run tilik vault rotate first"
        )
    write_key_file(path, [key for key in ring.keys if key.key_id != key_id], replace=True)
    click.echo(f"retired {key_id}; {len(ring.keys) - 1} key(s) left")


async def _sealed_under(key_id: str) -> int:
    from topics.catalog import SEALED_CREDENTIALS
    from topics.client import read_table
    from topics.models import SealedCredential

    table = await read_table(SEALED_CREDENTIALS, component="vault")
    return sum(
        1
        for record in table.values()
        if isinstance(record, SealedCredential) and record.key_id == key_id
    )
