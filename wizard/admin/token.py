"""The admin token: where it comes from, the one rule it follows, how it is compared and
replaced."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import current_app

from ..config import ADMIN_TOKEN_FILE, read_or_create_secret, replace_secret

# A configured admin token shorter than this could be guessed despite the throttle.
MIN_ADMIN_TOKEN_LENGTH = 24


def token_path(instance_path: str | Path) -> Path:
    """Return where the generated admin token is kept (an absolute path)."""
    return Path(instance_path).resolve() / ADMIN_TOKEN_FILE


def ensure_admin_token(config: Mapping[str, Any]) -> Path | None:
    """Check WIZARD_ADMIN_TOKEN, or make the token file the server uses; return that file's
    path (None when the token is the variable's). ValueError names the variable of a token
    too short to resist guessing; InsecureFile says why the file cannot be trusted."""
    configured = config["WIZARD_ADMIN_TOKEN"]
    if configured is not None:
        if len(configured) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"WIZARD_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters (this "
                f"one has {len(configured)}), so that it cannot be guessed. Make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return None
    read_or_create_secret(config["WIZARD_INSTANCE_PATH"], ADMIN_TOKEN_FILE)
    return token_path(config["WIZARD_INSTANCE_PATH"])


def rotate_admin_token(instance_path: str | Path) -> Path:
    """Replace the generated admin token with a new one, atomically, and return its path."""
    return replace_secret(instance_path, ADMIN_TOKEN_FILE)


@functools.lru_cache(maxsize=8)
def _token_in(path: Path, stamp: tuple[int, int]) -> str:
    """The token in the file, read once per version of the file (a rotation writes a new one)."""
    return read_or_create_secret(path.parent, path.name)


def current_token() -> str:
    """Return the admin token the running app accepts; a rotation takes effect at once."""
    config = current_app.config
    if config["WIZARD_ADMIN_TOKEN"]:
        return str(config["WIZARD_ADMIN_TOKEN"])
    path = token_path(config["WIZARD_INSTANCE_PATH"])
    try:
        info = path.stat()
    except FileNotFoundError:
        return read_or_create_secret(path.parent, path.name)
    return _token_in(path, (info.st_ino, info.st_mtime_ns))


def token_matches(candidate: object) -> bool:
    """Compare a candidate with the admin token in constant time."""
    if not isinstance(candidate, str) or not candidate:
        return False
    return hmac.compare_digest(candidate.strip().encode(), current_token().encode())


def token_fingerprint() -> str:
    """A digest of the current token, kept with each admin session and unlock link so that a
    new token ends them."""
    return hashlib.sha256(current_token().encode()).hexdigest()[:32]
