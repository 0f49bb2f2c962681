"""Set the identity when `serve` starts, from the environment or the Replicated SDK, for
installs that have no browser (Helm hooks, init containers, Ansible)."""

import logging
import os
import time
from pathlib import Path

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


def plan_from_environment(policy, sdk_url, sdk_timeout=DEFAULT_TIMEOUT_SECONDS):
    """Read and check the pre-seed variables; return (ids, summary, actor) or None.

    Raises SeedError naming the variable when a value is wrong, before anything is saved.
    """
    customer_id = _id("WIZARD_CUSTOMER_ID")
    instance_id = _id("WIZARD_INSTANCE_ID")
    license_id = _id("WIZARD_LICENSE_ID")
    license_file = _variable("WIZARD_LICENSE_FILE")
    detect_on_start = _variable("WIZARD_DETECT_ON_START")

    if license_file:
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
        if license_id and license_id != lic.license_id:
            raise SeedError("WIZARD_LICENSE_ID differs from the license in WIZARD_LICENSE_FILE")
        customer_id = _customer_id(
            lic.customer_id, customer_id, "the license in WIZARD_LICENSE_FILE"
        )
        if not instance_id:
            raise SeedError(
                "WIZARD_INSTANCE_ID is required with WIZARD_LICENSE_FILE: a "
                "license never holds the instance ID"
            )
        identity = (customer_id, instance_id, lic.license_id)
        return identity, lic.summary(Source.ENV), Actor(Source.ENV, who="WIZARD_LICENSE_FILE")

    if detect_on_start and detect_on_start.lower() not in ("0", "false", "no"):
        if not sdk_url:
            raise SeedError("WIZARD_DETECT_ON_START needs WIZARD_REPLICATED_SDK_URL")
        found = _detect_with_retries(sdk_url, sdk_timeout, policy.expected_app)
        if found is None:
            log.warning(
                "the Replicated SDK did not answer: starting without an identity; "
                "the wizard can set it"
            )
            return None
        customer_id = _customer_id(
            found.customer_id, customer_id, "the Replicated SDK (older versions report none)"
        )
        identity = (customer_id, instance_id or found.instance_id, found.license_id)
        if found.mock:
            log.warning("the Replicated SDK is in integration mode: these are mock IDs")
        return (
            identity,
            found.as_license().summary(Source.SDK),
            Actor(Source.SDK, who="WIZARD_DETECT_ON_START"),
        )

    if customer_id or instance_id or license_id:
        identity = (
            _id("WIZARD_CUSTOMER_ID", required=True),
            _id("WIZARD_INSTANCE_ID", required=True),
            license_id,
        )
        return identity, None, Actor(Source.ENV, who="WIZARD_CUSTOMER_ID/WIZARD_INSTANCE_ID")
    return None


def seed_from_environment(policy, sdk_url, sdk_timeout=DEFAULT_TIMEOUT_SECONDS):
    """Set the identity from the environment if none is set yet; say what happened."""
    plan = plan_from_environment(policy, sdk_url, sdk_timeout)
    if plan is None:
        return None
    (customer_id, instance_id, license_id), summary, actor = plan
    saved, existing = seed_identity(
        customer_id, instance_id, license_id, summary=summary, actor=actor
    )
    if saved:
        log.info(
            "identity set from %s: customer %s, instance %s", actor.who, customer_id, instance_id
        )
        return saved
    log.info(
        "identity already set (last changed %s); %s left unused", existing.updated_at, actor.who
    )
    return None
