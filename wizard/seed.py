"""Set the identity when `serve` starts, from the environment or the Replicated SDK, for
installs that have no browser (Helm hooks, init containers, Ansible)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from .identity import Actor, CustomerIdProblem, Source, customer_id_for, seed_identity
from .ids import InvalidId, clean_id
from .licenses import LicenseError, NeedsChoice
from .licenses.sdk import DEFAULT_TIMEOUT_SECONDS, SdkError, detect

log = logging.getLogger("wizard.seed")

DETECT_ATTEMPTS = 3
DETECT_PAUSE_SECONDS = 2


class SeedError(ValueError):
    """A pre-seed variable is wrong; the message names it. The start stops."""


def _variable(name):
    value = os.environ.get(name, "")
    return value if value.strip() else None


def _id(name, required=False):
    value = _variable(name)
    if value is None:
        if required:
            raise SeedError(f"{name} is required with the other pre-seed variables")
        return None
    try:
        return clean_id(value)
    except InvalidId as error:
        raise SeedError(f"{name} {error}") from None


def _detect_with_retries(sdk_url, timeout, expected_app):
    for attempt in range(1, DETECT_ATTEMPTS + 1):
        try:
            return detect(sdk_url, timeout=timeout, expected_app=expected_app)
        except SdkError as error:
            log.warning("detection attempt %d of %d failed: %s", attempt, DETECT_ATTEMPTS, error)
            if attempt < DETECT_ATTEMPTS:
                time.sleep(DETECT_PAUSE_SECONDS)
    return None


def _customer_id(carried, given, source):
    try:
        return customer_id_for(carried, given, source)
    except CustomerIdProblem as problem:
        raise SeedError(f"WIZARD_CUSTOMER_ID {problem}") from None


Plan = tuple[tuple[str, str, str | None], dict[str, Any] | None, Actor]


def _from_license_file(policy: Any, license_file: str, ids: dict[str, str | None]) -> Plan:
    """WIZARD_LICENSE_FILE, verified first; the ids a license lacks come from variables."""
    try:
        data = Path(license_file).read_bytes()
    except OSError as error:
        raise SeedError(
            f"WIZARD_LICENSE_FILE: cannot read {license_file}: {error.strerror}"
        ) from None
    try:
        verdict = policy.pick(data)
    except LicenseError as error:
        raise SeedError(f"WIZARD_LICENSE_FILE: {error.message}") from None
    except NeedsChoice as several:
        raise SeedError(
            f"WIZARD_LICENSE_FILE holds {len(several.choices)} licenses; give it a file of "
            "one license"
        ) from None
    if not verdict.valid:
        raise SeedError(f"WIZARD_LICENSE_FILE: {verdict.message}")
    lic = verdict.license
    if ids["license_id"] and ids["license_id"] != lic.license_id:
        raise SeedError("WIZARD_LICENSE_ID differs from the license in WIZARD_LICENSE_FILE")
    customer_id = _customer_id(
        lic.customer_id, ids["customer_id"], "the license in WIZARD_LICENSE_FILE"
    )
    instance_id = ids["instance_id"]
    if not instance_id:
        raise SeedError(
            "WIZARD_INSTANCE_ID is required with WIZARD_LICENSE_FILE: a "
            "license never holds the instance ID"
        )
    identity = (customer_id, instance_id, lic.license_id)
    return identity, lic.summary(Source.ENV), Actor(Source.ENV, who="WIZARD_LICENSE_FILE")


def _from_sdk(
    policy: Any, sdk_url: str | None, sdk_timeout: float, ids: dict[str, str | None]
) -> Plan | None:
    """WIZARD_DETECT_ON_START: the Replicated SDK's ids, a few tries; None when it is silent."""
    if not sdk_url:
        raise SeedError("WIZARD_DETECT_ON_START needs WIZARD_REPLICATED_SDK_URL")
    found = _detect_with_retries(sdk_url, sdk_timeout, policy.expected_app)
    if found is None:
        log.warning(
            "the Replicated SDK did not answer: starting without an identity; the wizard can set it"
        )
        return None
    customer_id = _customer_id(
        found.customer_id,
        ids["customer_id"],
        "the Replicated SDK (older versions report none)",
    )
    identity = (customer_id, ids["instance_id"] or found.instance_id, found.license_id)
    if found.mock:
        log.warning("the Replicated SDK is in integration mode: these are mock IDs")
    return (
        identity,
        found.as_license().summary(Source.SDK),
        Actor(Source.SDK, who="WIZARD_DETECT_ON_START"),
    )


def plan_from_environment(
    policy: Any, sdk_url: str | None, sdk_timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> Plan | None:
    """Read and check the pre-seed variables; return (ids, summary, actor) or None.

    Raises SeedError naming the variable when a value is wrong, before anything is saved.
    """
    ids = {
        name: _id(f"WIZARD_{name.upper()}") for name in ("customer_id", "instance_id", "license_id")
    }
    license_file = _variable("WIZARD_LICENSE_FILE")
    if license_file:
        return _from_license_file(policy, license_file, ids)
    detect_on_start = _variable("WIZARD_DETECT_ON_START")
    if detect_on_start and detect_on_start.lower() not in ("0", "false", "no"):
        return _from_sdk(policy, sdk_url, sdk_timeout, ids)
    if any(ids.values()):
        identity = (
            _id("WIZARD_CUSTOMER_ID", required=True),
            _id("WIZARD_INSTANCE_ID", required=True),
            ids["license_id"],
        )
        return identity, None, Actor(Source.ENV, who="WIZARD_CUSTOMER_ID/WIZARD_INSTANCE_ID")
    return None


def seed_from_environment(
    policy: Any, sdk_url: str | None, sdk_timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> Any:
    """Set the identity from the environment if none is set yet; say what happened."""
    plan = plan_from_environment(policy, sdk_url, sdk_timeout)
    if plan is None:
        return None
    identity, summary, actor = plan
    saved, existing = seed_identity(identity, summary=summary, actor=actor)
    if saved:
        log.info("identity set from %s: customer %s, instance %s", actor.who, *identity[:2])
        return saved
    log.info(
        "identity already set (last changed %s); %s left unused",
        existing.updated_at if existing else "never",
        actor.who,
    )
    return None
