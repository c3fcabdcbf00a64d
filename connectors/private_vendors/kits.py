"""The built-in vendor connectors, each with the simulator it is tested and benchmarked against."""

from __future__ import annotations

from connectors.private_vendors.dahua.connector import DahuaConfig, DahuaConnector
from connectors.private_vendors.dahua.simulator import DahuaSimulator
from connectors.private_vendors.hikvision.connector import HikvisionConfig, HikvisionConnector
from connectors.private_vendors.hikvision.simulator import HikvisionSimulator
from connectors.sdk.simulation.testing import VendorKit

VENDORS: dict[str, VendorKit] = {
    "hikvision": VendorKit("hikvision", HikvisionConnector, HikvisionConfig, HikvisionSimulator),
    "dahua": VendorKit("dahua", DahuaConnector, DahuaConfig, DahuaSimulator),
}
