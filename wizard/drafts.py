"""The wizard's answers between steps, sealed into the page: stateless across workers and
replicas, unreadable to the browser (no license id in the HTML), and useless once edited."""

import base64
import hashlib
import json

# An admin who leaves the review open longer than this starts that step again.
DRAFT_MAX_AGE_SECONDS = 2 * 60 * 60


class DraftExpired(Exception):
    """The sealed answers are too old, or were not sealed by this installation."""


def _fernet(secret_key):
    from cryptography.fernet import Fernet  # on first use: most requests never need it

    digest = hashlib.sha256(b"replicated-setup-wizard/draft\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret_key, answers):
    """Return the answers as an opaque, authenticated string for a hidden form field."""
    return _fernet(secret_key).encrypt(json.dumps(answers).encode()).decode()


def unseal(secret_key, token, max_age=DRAFT_MAX_AGE_SECONDS):
    """Return the answers sealed into `token`, or raise DraftExpired."""
    if not token:
        raise DraftExpired("no answers were sealed")
    from cryptography.fernet import InvalidToken

    try:
        answers = json.loads(_fernet(secret_key).decrypt(token.encode(), ttl=max_age))
    except (InvalidToken, ValueError, UnicodeError):
        raise DraftExpired("the answers are too old or were altered") from None
    if not isinstance(answers, dict):
        raise DraftExpired("the answers were altered")
    return answers
