"""Replicated licenses, read and verified as Replicated's own Go code does; no Flask here.

yaml_v2      the file read by go-yaml v2's rules, hostile YAML refused early
documents    a file's License documents, and how to tell them apart
gotypes      the spec in kotskinds' Go types, and the visible-against-signed comparison
signatures   the chain of signatures, from Replicated's global key down
times        RFC 3339 as Go reads it, and the expiry as kots reads it
verify       the steps, in order: one verdict per license
keys         the signing keys this installation trusts
policy       what this installation accepts, and picking one license of a file
sdk          what the Replicated SDK in the cluster says about the license
"""

from .documents import (
    MAX_LICENSE_BYTES,
    document_label,
    license_documents,
    license_file_text,
    read_documents,
)
from .gotypes import SUPPORTED_VERSIONS
from .keys import GLOBAL_KEYS, TrustedKeys, load_trusted_keys
from .policy import Choice, LicensePolicy, NeedsChoice, pick_license, verify_license
from .times import expiry_of, parse_rfc3339
from .verdicts import Entitlement, License, LicenseError, Reason, Verdict
from .verify import verify_document

__all__ = [
    "GLOBAL_KEYS",
    "MAX_LICENSE_BYTES",
    "SUPPORTED_VERSIONS",
    "Choice",
    "Entitlement",
    "License",
    "LicenseError",
    "LicensePolicy",
    "NeedsChoice",
    "Reason",
    "TrustedKeys",
    "Verdict",
    "document_label",
    "expiry_of",
    "license_documents",
    "license_file_text",
    "load_trusted_keys",
    "parse_rfc3339",
    "pick_license",
    "read_documents",
    "verify_document",
    "verify_license",
]
