"""The site file and the one command a tenant's site runs, made from a registered ``SiteConfig``.

The file holds what the edge agent needs and no secret: each device's credential *reference*
(``USER@env:TILIK_CAMERA_SECRET_<NAME>``: the password is given at the site, in that variable)
and, for the tenant's Kafka client config (which holds the tenant's password), a placeholder the
tenant replaces with the path of the file the operator handed over.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml

from core.settings import DEFAULT_CAMERA_SECRETS_ENV_PREFIX
from topics.models import SiteConfig

#: the line of the site file the tenant fills in
CLIENT_CONFIG_PLACEHOLDER = "REPLACE-WITH-PATH/tenant-{tenant}.properties"


def credential_ref(username: str, secret_name: str) -> str:
    """The reference to a password kept at the site in ``TILIK_CAMERA_SECRET_<secret_name>``."""
    return f"{username}@env:{secret_env(secret_name)}"


def secret_env(secret_name: str) -> str:
    return f"{DEFAULT_CAMERA_SECRETS_ENV_PREFIX}{secret_name}"


def secret_envs(site: SiteConfig) -> list[str]:
    """The variables the site must set (names only), from its devices' references."""
    names = {
        ref.split("@env:", 1)[1]
        for ref in (device.credential_ref for device in site.devices)
        if ref is not None and "@env:" in ref
    }
    return sorted(names)


def file_name(site_id: str) -> str:
    """What the site file is called at the site (the command names it)."""
    return f"{site_id}.yaml"


def site_yaml(site: SiteConfig) -> str:
    """The edge agent's site file for ``site`` (docs/access.md, "Edge agent")."""
    document = {
        "tenant": site.tenant_id,
        "site": site.site_id,
        "client_config": CLIENT_CONFIG_PLACEHOLDER.format(tenant=site.tenant_id),
        "devices": [
            {
                "connector": device.connector,
                "address": device.address,
                **({"credential_ref": device.credential_ref} if device.credential_ref else {}),
                "sharing": device.sharing.value,
            }
            for device in site.devices
        ],
    }
    header = (
        f"# Edge agent of tenant {site.tenant_id}, site {site.site_id}"
        + (f" ({site.name})" if site.name else "")
        + ", made by `tilik api`.\n"
        "# Replace client_config with the path of the client config the operator gave you.\n"
        "# Passwords never go in this file: set each variable named in a credential_ref at the\n"
        "# site (" + (", ".join(secret_envs(site)) or "none needed") + ").\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def run_command(site: SiteConfig) -> str:
    """The one command to run at the site, next to the site file."""
    return f"tilik edge run --config {PurePosixPath(file_name(site.site_id))}"
