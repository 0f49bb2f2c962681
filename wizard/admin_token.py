"""The admin token: where it comes from, how it is compared, how it is replaced."""

import hashlib
import hmac
from pathlib import Path

from flask import current_app

from .config import ADMIN_TOKEN_FILE, read_or_create_secret, replace_secret


def token_path(instance_path):
    """Return where the generated admin token is kept (an absolute path)."""
    return Path(instance_path).resolve() / ADMIN_TOKEN_FILE


def load_admin_token(config):
    """Return the admin token: WIZARD_ADMIN_TOKEN, or the one generated into the instance folder."""
    return config["WIZARD_ADMIN_TOKEN"] or read_or_create_secret(
        config["WIZARD_INSTANCE_PATH"], ADMIN_TOKEN_FILE
    )


def rotate_admin_token(instance_path):
    """Replace the generated admin token with a new one, atomically, and return its path."""
    return replace_secret(instance_path, ADMIN_TOKEN_FILE)


_read_tokens = {}  # path -> (inode and modification time, token): a stat per request, not a read


def current_token():
    """Return the admin token the running app accepts; a rotation takes effect at once."""
    config = current_app.config
    if config["WIZARD_ADMIN_TOKEN"]:
        return config["WIZARD_ADMIN_TOKEN"]
    path = token_path(config["WIZARD_INSTANCE_PATH"])
    try:
        info = path.stat()
        stamp = (info.st_ino, info.st_mtime_ns)  # a rotation writes a new file
    except FileNotFoundError:
        return load_admin_token(config)
    cached = _read_tokens.get(path)
    if cached is None or cached[0] != stamp:
        cached = _read_tokens[path] = (stamp, load_admin_token(config))
    return cached[1]


def token_matches(candidate):
    """Compare a candidate with the admin token in constant time."""
    if not isinstance(candidate, str) or not candidate:
        return False
    return hmac.compare_digest(candidate.strip().encode(), current_token().encode())


def token_fingerprint():
    """A digest of the current token, kept with each admin session and unlock link so that a
    new token ends them."""
    return hashlib.sha256(current_token().encode()).hexdigest()[:32]
