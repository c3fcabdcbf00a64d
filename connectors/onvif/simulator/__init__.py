"""Simulated ONVIF cameras on loopback for tests, demos and benchmarks of the ONVIF connector.

Python API::

    from connectors.onvif.simulator import FaultPlan, OnvifFleet

    async with OnvifFleet(
        cameras=200,                  # N cameras in one process (thousands are fine)
        username="admin", password="secret",
        event_rate=1.0,               # random events per second per camera, while subscribed
        faults=FaultPlan(slow=0.05, malformed=0.01, unauthorized=0.01, reboot=0.0, xxe=0.0,
                         huge_header=0.0, slow_seconds=2.0, clock_offset=0,
                         clock_year=0),       # or FaultPlan.parse("slow=0.05,...")
        host_mode="ports",            # "ports": 127.0.0.1:<port each>; "addresses": 127.100.x.y:<common port>
        base_port=0,                  # 0 = free ports; else camera i listens on base_port + i
        seed=0,                       # identities, event streams and fault draws are reproducible
        discovery_port=None,          # an int serves WS-Discovery Probe on 127.0.0.1:<port>/udp
        discovery_multicast=False,    # True: also 239.255.255.250 joined on loopback only
        variants=None,                # a Path: replay its recorded notifications (vendor variants)
        media="media",                # "media2": Media2 only (Profile T, H.265 models); "both"
    ) as fleet:
        fleet.addresses               # ["127.0.0.1:41234", ...] in camera order
        camera = fleet.cameras[0]     # VirtualCamera
        camera.device_url             # "http://127.0.0.1:41234/onvif/device_service"
        camera.serial, camera.mac, camera.endpoint_reference   # "urn:uuid:..." stable identity
        camera.identity.name, camera.identity.kecamatan, camera.identity.scopes
        await camera.move_to(45000)           # or "127.100.0.9:8080": new address, same identity
        camera.reboot()                       # drops every PullPoint subscription
        await camera.power_off()              # address stops answering (offline)...
        await camera.power_on()               # ...and comes back, rebooted, at the same address
        camera.inject("tns1:RuleEngine/CellMotionDetector/Motion", data={"IsMotion": "true"})
        camera.force_fault("unauthorized", times=1)   # slow | malformed | unauthorized | reboot | xxe
                                                      # | huge_header (a 4 MB response header)
        camera.faults = FaultPlan(clock_offset=3600)  # per-camera plan; clock runs an hour ahead
        camera.faults = FaultPlan(clock_year=10**30)  # GetSystemDateAndTime reports an absurd year
        camera.media = "media2"               # from now on offers Media2 only (Profile T)
        camera.go_silent()                    # accepts connections, answers nothing...
        camera.answer_again()                 # ...until this
        fleet.discovery.address       # ("127.0.0.1", port) when discovery_port was given
        fleet.camera_at("127.0.0.1:41234")

Each camera serves SOAP 1.2 at ``/onvif/device_service``, ``/onvif/media_service`` (or
``/onvif/media2_service``, or both: ``media``; a Media2-only camera lists it in GetServices only),
``/onvif/events_service``, ``/onvif/ptz_service`` (PTZ models only) and PullPoint managers at
``/onvif/subscription/<id>``. Every operation except GetSystemDateAndTime requires a
WS-UsernameToken (PasswordDigest or PasswordText) whose Created lies within five minutes of the
camera's clock; a replayed nonce is refused. Auth faults are ``ter:NotAuthorized`` with HTTP 401
(Hikvision/Axis style) or 400 (Dahua style); a lost or expired subscription answers
``wsrf-rw:ResourceUnknownFault``. A new PullPoint first receives ``Initialized`` messages for every
property topic. Cameras cycle through three vendor styles (camera ``i`` is ``VENDORS[i % 3]``).
Command line: ``tilik simulate onvif --cameras N`` prints one ``host:port`` per camera.
"""

from connectors.onvif.simulator.device import CameraIdentity, VirtualCamera
from connectors.onvif.simulator.events import TOPICS, SimulatedEvent, TopicSpec
from connectors.onvif.simulator.faults import Fault, FaultPlan
from connectors.onvif.simulator.fleet import OnvifFleet

__all__ = [
    "TOPICS",
    "CameraIdentity",
    "Fault",
    "FaultPlan",
    "OnvifFleet",
    "SimulatedEvent",
    "TopicSpec",
    "VirtualCamera",
]
