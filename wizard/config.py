"""The WIZARD_* settings, their defaults, the instance folder, and the secrets generated into it."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
ADMIN_TOKEN_FILE = "admin_token"  # noqa: S105 - a file name, not a secret

log = logging.getLogger("wizard")


class InsecureFile(ValueError):
    """The instance folder or a secret in it can be changed by another user: not trusted."""


def _env(name: str, default: str | None = None) -> str | None:
    """Return a setting from the environment, treating an empty value as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


def _number_env(
    name: str, default: float, kind: type[int] | type[float] = int, minimum: float | None = None
) -> float:
    """Return a numeric setting, naming the variable when it is not a number or too small."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {noun}, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def default_instance_path() -> str:
    """Where secrets and the SQLite file live by default, whatever the working directory:
    inside a virtual environment, `<its prefix>/var/wizard-instance`, however the wizard is
    installed there (`pip install .` and `pip install -e .` share it, so running the tests in
    the same checkout never moves it); elsewhere Flask's convention, `<prefix>/var/...` for an
    installed package, `instance/` beside the package in a source checkout."""
    from flask.sansio.scaffold import find_package

    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "var", "wizard-instance")
    prefix, package_path = find_package(__name__.partition(".")[0])
    if prefix is None:
        return os.path.join(package_path, "instance")
    return os.path.join(prefix, "var", "wizard-instance")


def instance_path_from_env() -> str:
    """Return the absolute instance folder: WIZARD_INSTANCE_PATH, or the default."""
    return str(Path(_env("WIZARD_INSTANCE_PATH") or default_instance_path()).expanduser().resolve())


def settings_from_env(instance_path: str) -> dict[str, Any]:
    """Read every WIZARD_* setting into a Flask config mapping."""
    return {
        "WIZARD_DATABASE_URL": _env("WIZARD_DATABASE_URL", f"sqlite:///{instance_path}/wizard.db"),
        "WIZARD_DATABASE_TIMEOUT": _number_env(
            "WIZARD_DATABASE_TIMEOUT", 10.0, kind=float, minimum=0.5
        ),
        "WIZARD_SECRET_KEY": _env("WIZARD_SECRET_KEY"),
        "WIZARD_ADMIN_TOKEN": _env("WIZARD_ADMIN_TOKEN"),
        "WIZARD_AUTH": _env("WIZARD_AUTH", "token"),
        "WIZARD_PROXY_FIX": _env("WIZARD_PROXY_FIX"),
        "WIZARD_TRUSTED_HOSTS": _env("WIZARD_TRUSTED_HOSTS"),
        "WIZARD_FRAME_ANCESTORS": _env("WIZARD_FRAME_ANCESTORS", "'self'"),
        "WIZARD_EXPECTED_APP_SLUG": _env("WIZARD_EXPECTED_APP_SLUG"),
        "WIZARD_LICENSE_KEYS": _env("WIZARD_LICENSE_KEYS", "production"),
        "WIZARD_REPLICATED_SDK_URL": _env("WIZARD_REPLICATED_SDK_URL"),
        "WIZARD_SDK_TIMEOUT": _number_env("WIZARD_SDK_TIMEOUT", 5.0, kind=float, minimum=0.1),
        "MAX_CONTENT_LENGTH": _number_env("WIZARD_MAX_UPLOAD_BYTES", 4 * 1024 * 1024, minimum=1024),
        "WIZARD_STYLESHEET": _env("WIZARD_STYLESHEET"),
        "WIZARD_COLOR_SCHEME": _env("WIZARD_COLOR_SCHEME", "auto"),
        **_reporting_settings(),
    }


REPORTING_MODES = ("auto", "sdk", "direct", "offline", "off")
METRICS_MODES = ("off", "on", "token")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(name: str, raw: str, minimum: float = 1.0) -> float:
    """Seconds from `90`, `90s`, `30m`, `4h` or `1d`; ValueError naming the variable if not."""
    text = raw.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(
            f"{name} must be a duration such as 90s, 30m, 4h or 1d, got {raw!r}"
        ) from None
    if not seconds >= minimum:  # also refuses NaN
        raise ValueError(f"{name} must be at least {minimum:g} seconds, got {raw!r}")
    return seconds


def _duration_env(name: str, default: float, minimum: float = 1.0) -> float:
    raw = _env(name)
    return default if raw is None else parse_duration(name, raw, minimum)


def _choice_env(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_env(name) or default).lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _reporting_settings() -> dict[str, Any]:
    """The settings of reporting and of the license's life after day one."""
    return {
        "WIZARD_REPORTING": _choice_env("WIZARD_REPORTING", "auto", REPORTING_MODES),
        "WIZARD_REPLICATED_ENDPOINT": _env("WIZARD_REPLICATED_ENDPOINT"),
        "WIZARD_REPORT_COLLECTORS": _env("WIZARD_REPORT_COLLECTORS"),
        "WIZARD_REPORT_INTERVAL": _duration_env("WIZARD_REPORT_INTERVAL", 4 * 3600),
        "WIZARD_REPORT_WARN_DAYS": _number_env(
            "WIZARD_REPORT_WARN_DAYS", 4.0, kind=float, minimum=0
        ),
        "WIZARD_REPORT_TIMEOUT": _number_env(
            "WIZARD_REPORT_TIMEOUT", 10.0, kind=float, minimum=0.1
        ),
        "WIZARD_COLLECTOR_TIMEOUT": _number_env(
            "WIZARD_COLLECTOR_TIMEOUT", 5.0, kind=float, minimum=0.01
        ),
        "WIZARD_INSTANCE_NAME": _env("WIZARD_INSTANCE_NAME"),
        "WIZARD_METRICS": _choice_env("WIZARD_METRICS", "token", METRICS_MODES),
        "WIZARD_LICENSE_CHECK_INTERVAL": _duration_env("WIZARD_LICENSE_CHECK_INTERVAL", 3600),
        "WIZARD_DEPLOYMENT_ID": _env("WIZARD_DEPLOYMENT_ID"),
        "WIZARD_SQLITE_TUNE": (_env("WIZARD_SQLITE_TUNE") or "0").lower() in ("1", "true", "yes"),
    }


# --- The instance folder and its secrets -----------------------------------------------------


def _refuse_if_others_can_change(path: object, info: os.stat_result, what: str) -> None:
    if info.st_uid != os.geteuid():
        raise InsecureFile(
            f"{what} {path} belongs to another user (uid {info.st_uid}), so the wizard does not "
            "trust it. Give it to the user the wizard runs as, or set WIZARD_INSTANCE_PATH."
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InsecureFile(
            f"{what} {path} can be changed by other users (mode {stat.filemode(info.st_mode)}), "
            f"so the wizard does not trust it. Run: chmod go-w {path}"
        )


def private_folder(path: str | Path) -> Path:
    """Create the folder (mode 0700) if it is missing and return it as a Path. Refuse a folder
    that another user owns or can write: secrets planted there would be trusted."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise InsecureFile(f"The instance folder {folder} is not a folder.")
    _refuse_if_others_can_change(folder, info, "The instance folder")
    if info.st_mode & 0o077:
        folder.chmod(0o700)  # an older install's 0755: ours, so made private
    return folder


def _read_secret(path: Path) -> str:
    """Read a secret file without following a link, refusing one another user can change."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise InsecureFile(
            f"The secret file {path} is a symbolic link, so the wizard does not trust it. "
            "Remove the link: the wizard makes the file itself."
        ) from None
    with os.fdopen(fd) as handle:
        info = os.fstat(fd)
        _refuse_if_others_can_change(path, info, "The secret file")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
        return handle.read().strip()


def _write_new_file(folder: Path, text: str) -> Path:
    """Write text to a new file of a random name in the folder (0600, never through a link)."""
    while True:
        path = folder / f".new-{secrets.token_hex(8)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path


def read_or_create_secret(instance_path: str | Path, name: str) -> str:
    """Return the secret stored in the instance folder, creating it (mode 0600) the first time.

    Several gunicorn workers, or several replicas sharing a volume, may start at the same
    moment: the file is written under a random name and hard-linked into place, so exactly
    one value wins and every process reads that one.
    """
    folder = private_folder(instance_path)
    path = folder / name
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    tmp = _write_new_file(folder, secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)
        log.info("generated a new %s in %s", name.replace("_", " "), path)
    except FileExistsError:
        pass  # another process won; its value is the one
    finally:
        tmp.unlink()
    return _read_secret(path)


def replace_secret(instance_path: str | Path, name: str) -> Path:
    """Replace a generated secret with a new one, atomically; return its path."""
    folder = private_folder(instance_path)
    tmp = _write_new_file(folder, secrets.token_urlsafe(32) + "\n")
    path = folder / name
    os.replace(tmp, path)  # a rename replaces a link at the path, never what it points to
    return path
