"""The WIZARD_* settings, their defaults, and the secrets generated into the instance folder."""

import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
ADMIN_TOKEN_FILE = "admin_token"  # noqa: S105 - a file name, not a secret


def _env(name, default=None):
    """Return a setting from the environment, treating an empty value as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


def _int_env(name, default):
    """Return an integer setting, naming the variable when it is not a whole number."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def instance_path_from_env():
    """Return the absolute instance folder from WIZARD_INSTANCE_PATH (default ./instance)."""
    return str(Path(_env("WIZARD_INSTANCE_PATH", "instance")).expanduser().resolve())


def settings_from_env(instance_path):
    """Read every WIZARD_* setting into a Flask config mapping."""
    return {
        "WIZARD_DATABASE_URL": _env("WIZARD_DATABASE_URL", f"sqlite:///{instance_path}/wizard.db"),
        "WIZARD_SECRET_KEY": _env("WIZARD_SECRET_KEY"),
        "WIZARD_ADMIN_TOKEN": _env("WIZARD_ADMIN_TOKEN"),
        "WIZARD_AUTH": _env("WIZARD_AUTH", "token"),
        "WIZARD_PROXY_FIX": _env("WIZARD_PROXY_FIX"),
        "WIZARD_TRUSTED_HOSTS": _env("WIZARD_TRUSTED_HOSTS"),
        "WIZARD_FRAME_ANCESTORS": _env("WIZARD_FRAME_ANCESTORS", "'self'"),
        "WIZARD_EXPECTED_APP_SLUG": _env("WIZARD_EXPECTED_APP_SLUG"),
        "WIZARD_LICENSE_KEYS": _env("WIZARD_LICENSE_KEYS", "production"),
        "WIZARD_REPLICATED_SDK_URL": _env("WIZARD_REPLICATED_SDK_URL"),
        "MAX_CONTENT_LENGTH": _int_env("WIZARD_MAX_UPLOAD_BYTES", 1024 * 1024),
    }


def read_or_create_secret(instance_path, name):
    """Return the secret stored in the instance folder, creating it (mode 0600) the first time.

    Several gunicorn workers, or several replicas sharing a volume, may start at the same
    moment: the file is written under a temporary name and hard-linked into place, so exactly
    one value wins and every process reads that one.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def license_policy(app):
    """What licenses this app accepts, built from its settings on first use (it loads keys).

    Raises ValueError naming WIZARD_LICENSE_KEYS when a key cannot be loaded.
    """
    policy = app.extensions.get("license_policy")
    if policy is None:
        from .licenses import LicensePolicy

        policy = app.extensions["license_policy"] = LicensePolicy.from_settings(app.config)
    return policy
