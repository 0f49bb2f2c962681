"""How the pages look inside a console: its own stylesheet (WIZARD_STYLESHEET, a local file
the wizard serves itself, so the CSP's style-src 'self' covers it) and a forced colour scheme
(WIZARD_COLOR_SCHEME). The properties a stylesheet may set are in docs/theming.md."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, send_file
from werkzeug.wrappers import Response

COLOR_SCHEMES = ("auto", "light", "dark")

bp = Blueprint("theme", __name__)


def checked_settings(config: Mapping[str, Any]) -> tuple[str, str | None]:
    """WIZARD_COLOR_SCHEME and WIZARD_STYLESHEET as the pages use them (the scheme in lower
    case, the stylesheet's absolute path); ValueError naming the variable. `serve` checks them
    before it starts workers, so a wrong one is one line, not a traceback per worker."""
    scheme = (config.get("WIZARD_COLOR_SCHEME") or "auto").lower()
    if scheme not in COLOR_SCHEMES:
        raise ValueError(
            f"WIZARD_COLOR_SCHEME must be one of {', '.join(COLOR_SCHEMES)}, got {scheme!r}"
        )
    stylesheet = config.get("WIZARD_STYLESHEET")
    return scheme, str(_readable_stylesheet(stylesheet)) if stylesheet else None


def init_app(app: Flask) -> None:
    """Check both settings at start, naming the variable; serve the stylesheet if there is one."""
    scheme, stylesheet = checked_settings(app.config)
    app.config["WIZARD_COLOR_SCHEME"] = scheme
    app.config["WIZARD_STYLESHEET"] = stylesheet
    app.register_blueprint(bp)
    app.context_processor(
        lambda: {
            "color_scheme": None if scheme == "auto" else scheme,
            "has_stylesheet": bool(stylesheet),
        }
    )


def _readable_stylesheet(raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.suffix.lower() != ".css":
        raise ValueError(f"WIZARD_STYLESHEET must be a .css file, got {raw!r}")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(f"WIZARD_STYLESHEET names {raw}, which is not a file this user can read")
    return path.resolve()


@bp.get("/theme.css")
def stylesheet() -> Response:
    """The deployment's stylesheet, read afresh (edits show on reload), with its ETag."""
    path = current_app.config.get("WIZARD_STYLESHEET")
    if not path:
        return Response("No WIZARD_STYLESHEET is set.\n", 404, mimetype="text/plain")
    try:
        return send_file(path, mimetype="text/css", conditional=True, max_age=0)
    except OSError:
        # Removed or made unreadable since the start: the pages keep the wizard's own look.
        current_app.logger.warning("WIZARD_STYLESHEET %s cannot be read now", path)
        return Response("WIZARD_STYLESHEET cannot be read now.\n", 404, mimetype="text/plain")
