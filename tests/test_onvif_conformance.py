"""The SDK conformance kit against the ONVIF connector and one simulated camera on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from connectors.onvif.connector import OnvifConfig, OnvifConnector
from connectors.onvif.simulator import FaultPlan, OnvifFleet
from connectors.sdk.conformance import CorruptionMode, SimulatedDevice, make_conformance_suite

PASSWORD = "Sandi-Konformitas-9"
WRONG = "Bukan-Sandinya-4"
# A pull reply larger than the connector's response cap (the config below sets 256 KiB).
OVERSIZED_VALUE = "x" * (512 * 1024)


@asynccontextmanager
async def onvif_camera() -> AsyncIterator[SimulatedDevice]:
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=31, event_rate=2
    ) as fleet:
        camera = fleet.cameras[0]

        async def trigger() -> None:
            camera.inject("tns1:RuleEngine/CellMotionDetector/Motion", data={"IsMotion": "true"})

        async def corrupt(mode: CorruptionMode) -> None:
            if mode == "malformed":
                camera.faults = FaultPlan(malformed=1.0)
            elif mode == "oversized":
                camera.inject(
                    "tns1:RuleEngine/CellMotionDetector/Motion", data={"IsMotion": OVERSIZED_VALUE}
                )
            else:
                camera.faults = FaultPlan()

        common = {"address": camera.address, "pull_timeout_s": 1, "max_response_bytes": 256 * 1024}
        yield SimulatedDevice(
            config=OnvifConfig(
                credential_ref="admin@env:TILIK_CAMERA_SECRET_CONFORMANCE_ONVIF_PASS", **common
            ),
            bad_credentials_config=OnvifConfig(
                credential_ref="admin@env:TILIK_CAMERA_SECRET_CONFORMANCE_ONVIF_BAD", **common
            ),
            secrets={
                "TILIK_CAMERA_SECRET_CONFORMANCE_ONVIF_PASS": PASSWORD,
                "TILIK_CAMERA_SECRET_CONFORMANCE_ONVIF_BAD": WRONG,
            },
            expected_cameras=1,
            trigger_event=trigger,
            corrupt=corrupt,
        )


TestOnvifConformance = make_conformance_suite(
    OnvifConnector, simulator=onvif_camera, event_timeout_s=8
)
