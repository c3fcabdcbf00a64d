"""A delivery receipt: the audit record of a dispatch an agency's webhook received.

Delivered is not acknowledged: a receipt says the agency's system has the dispatch, and
escalation goes on until a person there acknowledges the alert. ``tilik alerts`` shows both.
"""

from __future__ import annotations

from datetime import datetime

from topics.models import AuditRecord, Dispatch

DELIVERED = "dispatch_delivered"
ACTOR = "hub.delivery"


def delivery_receipt(dispatch: Dispatch, *, attempts: int, at: datetime) -> AuditRecord:
    """Keyed by the alert (the audit topic's subject); the same dispatch gives the same id."""
    return AuditRecord(
        audit_id=f"aud-{dispatch.dispatch_id.removeprefix('dsp-')}",
        at=at,
        actor=ACTOR,
        action=DELIVERED,
        subject=dispatch.alert.alert_id,
        details={
            "agency": dispatch.agency,
            "dispatch_id": dispatch.dispatch_id,
            "escalation_level": str(dispatch.escalation_level),
            "channel": "webhook",
            "attempts": str(attempts),
        },
    )
