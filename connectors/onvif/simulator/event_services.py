"""Event service and subscription manager operations of a simulated camera: PullPoint, and push
(WS-BaseNotification Subscribe: the camera POSTs Notify to the consumer, see ``notify``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.events import TOPIC_DIALECT, TopicSpec
from connectors.onvif.simulator.operations import (
    OperationTable,
    RequestContext,
    Service,
    SoapFault,
    SoapReply,
    invalid_argument,
)
from connectors.onvif.simulator.soap import attr, child_text, xml_bool, xml_datetime
from connectors.onvif.simulator.subscriptions import UnknownSubscription
from connectors.onvif.simulator.xstime import parse_duration, parse_termination

DEFAULT_SUBSCRIPTION = dt.timedelta(seconds=60)
MAX_PULL_TIMEOUT = dt.timedelta(seconds=60)
MAX_MESSAGE_LIMIT = 1024
EVENTS_ACTION = "http://www.onvif.org/ver10/events/wsdl"
WSN_ACTION = "http://docs.oasis-open.org/wsn/bw-2"

EVENT_OPERATIONS = OperationTable()


def events_capabilities() -> str:
    return (
        '<tev:Capabilities WSSubscriptionPolicySupport="true" WSPullPointSupport="true" '
        'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="10" '
        'MaxPullPoints="16" PersistentNotificationStorage="false"/>'
    )


def resource_unknown(camera: VirtualCamera, subscription_id: str) -> SoapFault:
    detail = (
        f"<wsrf-rw:ResourceUnknownFault><wsrf-bf:Timestamp>{xml_datetime(camera.now())}"
        f"</wsrf-bf:Timestamp><wsrf-bf:Description>subscription {escape(subscription_id)} "
        "does not exist</wsrf-bf:Description></wsrf-rw:ResourceUnknownFault>"
    )
    return SoapFault(
        400,
        "env:Sender",
        ("wsrf-rw:ResourceUnknownFault",),
        "The subscription does not exist or has expired",
        detail,
    )


@EVENT_OPERATIONS.handles(Service.EVENTS, "GetServiceCapabilities")
async def get_event_service_capabilities(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        f"<tev:GetServiceCapabilitiesResponse>{events_capabilities()}"
        "</tev:GetServiceCapabilitiesResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/GetServiceCapabilitiesResponse",
    )


@dataclass
class _TopicNode:
    spec: TopicSpec | None = None
    children: dict[str, _TopicNode] = field(default_factory=dict)


def _topic_set(camera: VirtualCamera) -> str:
    root = _TopicNode()
    for spec in camera.events.topics:
        node = root
        for part in spec.topic.removeprefix("tns1:").split("/"):
            node = node.children.setdefault(part, _TopicNode())
        node.spec = spec

    def render(name: str, node: _TopicNode) -> str:
        children = "".join(render(key, child) for key, child in node.children.items())
        spec = node.spec
        if spec is None:
            return f"<tns1:{name}>{children}</tns1:{name}>"
        source = "".join(
            f'<tt:SimpleItemDescription Name={attr(item)} Type="tt:ReferenceToken"/>'
            for item, _ in camera.events.source_for(spec)
        )
        data = "".join(
            f'<tt:SimpleItemDescription Name={attr(item)} Type="xs:string"/>'
            for item, _ in spec.data
        )
        return (
            f'<tns1:{name} wstop:topic="true"><tt:MessageDescription '
            f'IsProperty="{xml_bool(spec.is_property)}"><tt:Source>{source}</tt:Source>'
            f"<tt:Data>{data}</tt:Data></tt:MessageDescription>{children}</tns1:{name}>"
        )

    return "".join(render(name, node) for name, node in root.children.items())


@EVENT_OPERATIONS.handles(Service.EVENTS, "GetEventProperties")
async def get_event_properties(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        "<tev:GetEventPropertiesResponse>"
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml"
        "</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>"
        f"<wstop:TopicSet>{_topic_set(ctx.camera)}</wstop:TopicSet>"
        f"<wsnt:TopicExpressionDialect>{TOPIC_DIALECT}</wsnt:TopicExpressionDialect>"
        "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
        "</wsnt:TopicExpressionDialect>"
        "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
        "</tev:MessageContentFilterDialect>"
        "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
        "</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/GetEventPropertiesResponse",
    )


def _termination(ctx: RequestContext, element_name: str) -> dt.datetime:
    requested = child_text(ctx.request.body, element_name)
    now = ctx.camera.now()
    try:
        termination = parse_termination(requested, now, DEFAULT_SUBSCRIPTION)
    except ValueError:
        raise invalid_argument(
            "TerminationTime is neither an xs:duration nor an xs:dateTime"
        ) from None
    if termination <= now:
        raise invalid_argument("TerminationTime is in the past")
    return termination


@EVENT_OPERATIONS.handles(Service.EVENTS, "CreatePullPointSubscription")
async def create_pull_point_subscription(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    termination = _termination(ctx, "InitialTerminationTime")
    subscription = camera.subscriptions.create(termination)
    if subscription is None:
        raise SoapFault(
            500,
            "env:Receiver",
            ("ter:Action", "ter:TooManySubscriptions"),
            "The device has no room for another subscription",
        )
    for event in camera.events.initial_state(camera.now()):
        subscription.push(event)
    address = f"{camera.base_url}/onvif/subscription/{subscription.subscription_id}"
    return SoapReply(
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
        f"<wsa:Address>{address}</wsa:Address></tev:SubscriptionReference>"
        f"<wsnt:CurrentTime>{xml_datetime(camera.now())}</wsnt:CurrentTime>"
        f"<wsnt:TerminationTime>{xml_datetime(termination)}</wsnt:TerminationTime>"
        "</tev:CreatePullPointSubscriptionResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/CreatePullPointSubscriptionResponse",
    )


@EVENT_OPERATIONS.handles(Service.EVENTS, "Subscribe")
async def subscribe(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    consumer = child_text(ctx.request.body, "Address")
    if not consumer or not consumer.startswith(("http://", "https://")):
        raise invalid_argument("ConsumerReference has no http(s) Address")
    if camera.notifier is None:
        raise SoapFault(
            400,
            "env:Sender",
            ("ter:ActionNotSupported",),
            "This device does not send notifications",
        )
    termination = _termination(ctx, "InitialTerminationTime")
    subscription = camera.subscriptions.create(termination, consumer=consumer)
    if subscription is None:
        raise SoapFault(
            500,
            "env:Receiver",
            ("ter:Action", "ter:TooManySubscriptions"),
            "The device has no room for another subscription",
        )
    # The current state of every property goes to a new consumer at once, as to a new PullPoint.
    for event in camera.events.initial_state(camera.now()):
        subscription.push(event)
    return SoapReply(
        "<wsnt:SubscribeResponse><wsnt:SubscriptionReference>"
        f"<wsa:Address>{escape(subscription.manager_url)}</wsa:Address>"
        "</wsnt:SubscriptionReference>"
        f"<wsnt:CurrentTime>{xml_datetime(camera.now())}</wsnt:CurrentTime>"
        f"<wsnt:TerminationTime>{xml_datetime(termination)}</wsnt:TerminationTime>"
        "</wsnt:SubscribeResponse>",
        action=f"{WSN_ACTION}/NotificationProducer/SubscribeResponse",
    )


# --- subscription manager -------------------------------------------------------------------


@EVENT_OPERATIONS.handles(Service.SUBSCRIPTION, "PullMessages")
async def pull_messages(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    if subscription.consumer is not None:
        raise invalid_argument("a push subscription is not a pull point")
    try:
        timeout = parse_duration(child_text(ctx.request.body, "Timeout") or "PT0S")
        limit = int(child_text(ctx.request.body, "MessageLimit") or "1")
    except ValueError:
        raise invalid_argument("Timeout or MessageLimit is not valid") from None
    if limit < 1:
        raise invalid_argument("MessageLimit must be positive")
    timeout = min(timeout, MAX_PULL_TIMEOUT)
    try:
        messages = await camera.subscriptions.wait(
            subscription, timeout.total_seconds(), min(limit, MAX_MESSAGE_LIMIT)
        )
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    notifications = "".join(message.to_xml() for message in messages)
    return SoapReply(
        f"<tev:PullMessagesResponse><tev:CurrentTime>{xml_datetime(camera.now())}</tev:CurrentTime>"
        f"<tev:TerminationTime>{xml_datetime(subscription.termination)}</tev:TerminationTime>"
        f"{notifications}</tev:PullMessagesResponse>",
        action=f"{EVENTS_ACTION}/PullPointSubscription/PullMessagesResponse",
    )


@EVENT_OPERATIONS.handles(Service.SUBSCRIPTION, "Renew")
async def renew(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    subscription.termination = _termination(ctx, "TerminationTime")
    return SoapReply(
        f"<wsnt:RenewResponse><wsnt:TerminationTime>{xml_datetime(subscription.termination)}"
        f"</wsnt:TerminationTime><wsnt:CurrentTime>{xml_datetime(camera.now())}</wsnt:CurrentTime>"
        "</wsnt:RenewResponse>",
        action=f"{WSN_ACTION}/SubscriptionManager/RenewResponse",
    )


@EVENT_OPERATIONS.handles(Service.SUBSCRIPTION, "Unsubscribe")
async def unsubscribe(ctx: RequestContext) -> SoapReply:
    try:
        ctx.camera.subscriptions.remove(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(ctx.camera, ctx.subscription_id) from None
    return SoapReply(
        "<wsnt:UnsubscribeResponse/>",
        action=f"{WSN_ACTION}/SubscriptionManager/UnsubscribeResponse",
    )


@EVENT_OPERATIONS.handles(Service.SUBSCRIPTION, "SetSynchronizationPoint")
async def set_synchronization_point(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    for event in camera.events.initial_state(camera.now()):
        subscription.push(event)
    return SoapReply(
        "<tev:SetSynchronizationPointResponse/>",
        action=f"{EVENTS_ACTION}/PullPointSubscription/SetSynchronizationPointResponse",
    )
