"""Which addresses connectors may reach: an allow-list of networks, so onboarding cannot be used for SSRF.

Default: loopback and the RFC 1918 private ranges (cameras live on private networks; a
request to reach a public address, a link-local metadata service or a multicast group is
refused). A deployment widens or narrows it with the ``probe_allow`` setting
(``TILIK_PROBE_ALLOW``, comma-separated CIDRs; see ``core.settings``) or, for ONVIF probing,
``--allow CIDR``. Host names are refused outright: a name can be re-pointed after it is checked,
an IP literal cannot.

Every connector whose class keeps ``private_network = True`` (the default: a device on a
private network) has its configs checked here at onboarding and again before the runtime
connects to a registry record's address (``guard_config``).

A business's recorder registered over HTTP is checked against its tenant's policy instead
(``tenant_policy``): the public internet, never loopback, private, shared (CGNAT), link-local
(cloud metadata), multicast or reserved addresses, plus exactly the networks the operator grants
that tenant (a VPN range). An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is judged as the
IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.sdk.errors import ConfigurationError
from core.settings import Settings, get_settings

ALLOW_ENV = "TILIK_PROBE_ALLOW"
MAX_SCAN_ADDRESSES = 65_536

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    networks = []
    for cidr in cidrs:
        cidr = cidr.strip()
        if not cidr:
            continue
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise ConfigurationError(f"not a network: {cidr!r}") from None
    return tuple(networks)


# Addresses that are not the public internet though ``is_global`` may say so (multicast), or that
# carry another address inside (NAT64, 6to4, Teredo: a gateway would reach the embedded one).
_NOT_INTERNET = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "224.0.0.0/4",
        "ff00::/8",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
    )
)


def _as_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped IPv6 address stands for; any other address as it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def on_internet(ip: IPAddress) -> bool:
    """Whether ``ip`` is a public internet address (not loopback, private, link-local, ...)."""
    ip = _as_ipv4(ip)
    return ip.is_global and not any(
        ip.version == net.version and ip in net for net in _NOT_INTERNET
    )


@dataclass(frozen=True)
class ProbePolicy:
    allowed: tuple[IPNetwork, ...]
    #: also every public internet address (``on_internet``): a tenant's policy
    internet: bool = False
    #: what a refusal tells to change
    widen_with: str = f"set {ALLOW_ENV} to change"

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> ProbePolicy:
        """The configured policy: this process's settings, or those ``environ`` holds."""
        settings = get_settings() if environ is None else Settings.from_env(environ)
        return cls(_networks(settings.probe_allow))

    @classmethod
    def of(cls, cidrs: Iterable[str]) -> ProbePolicy:
        return cls(_networks(cidrs))

    def permits(self, ip: IPAddress) -> bool:
        ip = _as_ipv4(ip)
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return True
        return self.internet and on_internet(ip)

    def check_address(self, address: str) -> str:
        """``host:port`` normalised, or ConfigurationError when the policy refuses it."""
        host, port = split_host_port(address)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ConfigurationError(
                f"refusing to reach {address}: only IP addresses are allowed, not host names"
            ) from None
        if not self.permits(ip):
            allowed = [str(n) for n in self.allowed] + (
                ["the public internet"] if self.internet else []
            )
            raise ConfigurationError(
                f"refusing to reach {address}: not in the allowed networks "
                f"({', '.join(allowed) or 'none'}; {self.widen_with})"
            )
        # A mapped address is reached as the IPv4 address it is judged as.
        return join_host_port(str(_as_ipv4(ip)), port)

    def expand(self, cidr: str, port: int) -> Iterator[str]:
        """Every host:port of a CIDR range, refusing ranges outside the policy or too large."""
        (network,) = _networks([cidr])
        if network.num_addresses > MAX_SCAN_ADDRESSES:
            raise ConfigurationError(
                f"refusing to scan {cidr}: more than {MAX_SCAN_ADDRESSES} addresses"
            )
        if not any(
            network.version == allowed.version and network.subnet_of(allowed)  # type: ignore[arg-type]
            for allowed in self.allowed
        ):
            raise ConfigurationError(f"refusing to scan {cidr}: not inside the allowed networks")
        hosts = network.hosts() if network.num_addresses > 2 else iter(network)
        for ip in hosts:
            yield join_host_port(str(ip), port)


def tenant_policy(granted: Iterable[str] = ()) -> ProbePolicy:
    """A tenant's recorders: the public internet, and the networks the operator granted it."""
    return ProbePolicy(
        _networks(granted), internet=True, widen_with="the operator may grant the tenant a network"
    )


def split_host_port(address: str) -> tuple[str, int]:
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigurationError(f"not a host:port address: {address!r}") from None
    if not host or not 0 < port < 65536:
        raise ConfigurationError(f"not a host:port address: {address!r}")
    return host, port


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def guard_config(connector_cls: Any, config: Any, policy: ProbePolicy | None = None) -> None:
    """Refuse (``ConfigurationError``) a config whose address the policy does not allow.

    Connectors for cloud platforms set ``private_network = False`` on their class and are not
    checked.
    """
    if getattr(connector_cls, "private_network", True):
        (policy or ProbePolicy.default()).check_address(config.address)
