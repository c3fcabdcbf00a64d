"""Applying the access declaration to a broker: SCRAM credentials and ACLs, through the Admin API.

ACLs are reconciled the way ``topics.admin`` reconciles topics: the declared bindings of the
principals Tilik manages (``roles.is_managed``) are compared with the broker's, the missing ones
created and the ones no role declares deleted. Other principals' ACLs are left alone.

Which agencies and tenants exist is the broker's to say: a SCRAM credential named
``agency-<id>`` or ``tenant-<id>`` is one (``tilik access agency add`` makes it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin._users import (
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from core.clientconfig import SCRAM_MECHANISM
from core.localkafka.security import SCRAM_ITERATIONS
from topics.access.roles import (
    AGENCY_USER_PREFIX,
    TENANT_USER_PREFIX,
    Binding,
    Operation,
    Pattern,
    Resource,
    Role,
    declared_roles,
    is_managed,
)
from topics.admin import AdminError
from topics.connection import diagnose_refusal_sync

# Changes go through the controller; the broker answering the next request sees them a moment later.
VISIBLE_WITHIN_S = 15.0
_POLL_S = 0.1

_LOGIN_OPTIONS = ("bootstrap_servers", "security_protocol", "ssl_context", "sasl_mechanism")

_RESOURCE_TYPES = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP}
_PATTERNS = {
    Pattern.LITERAL: ACLResourcePatternType.LITERAL,
    Pattern.PREFIXED: ACLResourcePatternType.PREFIXED,
}


@dataclass(frozen=True)
class AclPlan:
    """ACLs to create and to delete so the broker matches the declaration."""

    create: list[Binding] = field(default_factory=list)
    delete: list[Binding] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.create and not self.delete


@dataclass(frozen=True)
class Principals:
    """The SCRAM users on a broker, sorted into what Tilik manages."""

    users: frozenset[str]

    @property
    def agencies(self) -> list[str]:
        return self._named(AGENCY_USER_PREFIX)

    @property
    def tenants(self) -> list[str]:
        return self._named(TENANT_USER_PREFIX)

    def _named(self, prefix: str) -> list[str]:
        """The ids of the users whose name starts with ``prefix``."""
        return sorted(u.removeprefix(prefix) for u in self.users if u.startswith(prefix))


def _to_acl(binding: Binding) -> ACL:
    return ACL(
        principal=binding.principal,
        host="*",
        operation=ACLOperation[binding.operation.value],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            _RESOURCE_TYPES[binding.resource], binding.name, _PATTERNS[binding.pattern]
        ),
    )


def _to_binding(acl: ACL) -> Binding | None:
    """The binding an ACL is, or ``None`` for one outside what roles declare (DENY, a host, ...)."""
    pattern = acl.resource_pattern
    resources = {value: key for key, value in _RESOURCE_TYPES.items()}
    patterns = {value: key for key, value in _PATTERNS.items()}
    if (
        acl.permission_type != ACLPermissionType.ALLOW
        or acl.host != "*"
        or pattern.resource_type not in resources
        or pattern.pattern_type not in patterns
        or acl.operation.name not in Operation.__members__
    ):
        return None
    return Binding(
        acl.principal,
        resources[pattern.resource_type],
        pattern.resource_name,
        patterns[pattern.pattern_type],
        Operation[acl.operation.name],
    )


def broker_acls(client: KafkaAdminClient, principal: str | None = None) -> list[ACL]:
    """Every ACL on the broker (of ``principal``, when given)."""
    acls, _ = client.describe_acls(_filter(principal))
    return list(acls)


def _filter(principal: str | None) -> ACLFilter:
    return ACLFilter(
        principal=principal,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )


def plan_acls(desired: Iterable[Binding], acls: Iterable[ACL]) -> AclPlan:
    """What makes the managed principals' ACLs exactly ``desired``."""
    wanted = set(desired)
    current: set[Binding] = set()
    for acl in acls:
        if not is_managed(acl.principal):
            continue
        binding = _to_binding(acl)
        if binding is None:
            raise AdminError(
                f"{acl.principal} has an ACL Tilik does not declare and cannot express "
                f"({acl.operation.name} {acl.permission_type.name} on "
                f"{acl.resource_pattern.resource_name}); remove it by hand"
            )
        current.add(binding)
    return AclPlan(create=sorted(wanted - current), delete=sorted(current - wanted))


def _await_visible(done: Callable[[], bool], what: str) -> None:
    """Returns once ``done()`` holds, so the principal's next connection meets the change."""
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while not done():
        if time.monotonic() > deadline:
            raise AdminError(f"{what} did not take effect within {VISIBLE_WITHIN_S:.0f} s")
        time.sleep(_POLL_S)


def execute_acls(client: KafkaAdminClient, plan: AclPlan) -> None:
    if plan.empty:
        return
    _execute_acls(client, plan)
    principals = {b.principal for b in [*plan.create, *plan.delete]}

    def applied() -> bool:
        present = {
            binding
            for principal in principals
            for acl in broker_acls(client, principal)
            if (binding := _to_binding(acl)) is not None
        }
        return set(plan.create) <= present and not set(plan.delete) & present

    _await_visible(applied, "the ACL change")


def _execute_acls(client: KafkaAdminClient, plan: AclPlan) -> None:
    if plan.create:
        result = client.create_acls([_to_acl(binding) for binding in plan.create])
        if result["failed"]:
            raise AdminError(f"creating ACLs failed: {result['failed']}")
    if plan.delete:
        filters = [
            ACLFilter(
                principal=b.principal,
                host="*",
                operation=ACLOperation[b.operation.value],
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePatternFilter(
                    _RESOURCE_TYPES[b.resource], b.name, _PATTERNS[b.pattern]
                ),
            )
            for b in plan.delete
        ]
        for _, _, error in client.delete_acls(filters):
            if error.errno != 0:
                raise AdminError(f"deleting ACLs failed: {error.__name__}")


def principals(client: KafkaAdminClient) -> Principals:
    described = client.describe_user_scram_credentials()
    return Principals(frozenset(user for user, info in described.items() if not info["error"]))


def desired_bindings(found: Principals) -> set[Binding]:
    roles = declared_roles(found.agencies, found.tenants)
    return {binding for role in roles for binding in role.bindings()}


def reconcile(client: KafkaAdminClient, *, dry_run: bool = False) -> AclPlan:
    """Make every managed principal's ACLs what the declaration says; returns what changed."""
    plan = plan_acls(desired_bindings(principals(client)), broker_acls(client))
    if not dry_run:
        execute_acls(client, plan)
    return plan


def grant_role(client: KafkaAdminClient, role: Role) -> AclPlan:
    """Give ``role``'s principal exactly its declared ACLs."""
    plan = plan_acls(role.bindings(), broker_acls(client, role.principal))
    execute_acls(client, plan)
    return plan


def remove_acls(client: KafkaAdminClient, principal: str) -> int:
    """Delete every ACL of ``principal``; returns how many there were."""
    removed = 0
    for _, matched, error in client.delete_acls([_filter(principal)]):
        if error.errno != 0:
            raise AdminError(f"deleting the ACLs of {principal} failed: {error.__name__}")
        removed += len(matched)
    _await_visible(lambda: not broker_acls(client, principal), f"removing the ACLs of {principal}")
    return removed


def has_credential(client: KafkaAdminClient, user: str) -> bool:
    return user in principals(client).users


def set_password(client: KafkaAdminClient, user: str, password: str) -> None:
    """Create or replace ``user``'s SCRAM-SHA-512 credential (salted here; the broker never sees the password)."""
    result = client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, SCRAM_MECHANISM, password, iterations=SCRAM_ITERATIONS)]
    )
    if result.get(user):
        raise AdminError(f"setting the credential of {user} failed: {result[user]}")
    # A new password is visible once it logs in (describing credentials shows no passwords).
    login = {
        **{key: client.config[key] for key in _LOGIN_OPTIONS if client.config.get(key)},
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    _await_visible(lambda: diagnose_refusal_sync(login) is None, f"the password of {user}")


def delete_credential(client: KafkaAdminClient, user: str) -> bool:
    """Delete ``user``'s SCRAM credential; False when there was none."""
    if not has_credential(client, user):
        return False
    result = client.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]
    )
    if result.get(user):
        raise AdminError(f"deleting the credential of {user} failed: {result[user]}")
    _await_visible(lambda: not has_credential(client, user), f"deleting the credential of {user}")
    return True
