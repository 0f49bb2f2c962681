"""The Replicated setup wizard: tells an application who it is, for Replicated."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]

_PACKAGE = Path(__file__).parent


def _asset_folder(name: str) -> str:
    """Find templates/ or static/: inside the package in a wheel, beside it in a checkout."""
    packaged = _PACKAGE / name
    return str(packaged if packaged.is_dir() else _PACKAGE.parent / name)


def create_app(config: Mapping[str, Any] | None = None, *, web: bool = True) -> Flask:
    """Create the wizard: settings from the environment (then `config`), extensions, blueprints.

    `web=False` gives the settings and the database alone, for commands that serve no page.
    """
    from .config import instance_path_from_env, settings_from_env
    from .db import configure_engine, db, engine_options, owns_sqlite_file
    from .db import database_url as connect_url

    config = dict(config or {})
    instance_path = config.get("WIZARD_INSTANCE_PATH") or instance_path_from_env()
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
    )
    app.config.from_mapping(settings_from_env(instance_path))
    app.config.from_mapping(config)
    database_url = connect_url(app.config["WIZARD_DATABASE_URL"])
    app.config.update(
        WIZARD_INSTANCE_PATH=instance_path,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            database_url, app.config["WIZARD_DATABASE_TIMEOUT"]
        ),
        # Generated into the instance folder on first use (web/cookies.py), not here: a host
        # that mounts the wizard builds it in every `flask` command it runs.
        SECRET_KEY=app.config["WIZARD_SECRET_KEY"],
        # One limit for every body: a pasted license is a form field, not a file.
        MAX_FORM_MEMORY_SIZE=app.config["MAX_CONTENT_LENGTH"],
        SESSION_COOKIE_NAME="replicated_wizard_session",
        WTF_CSRF_TIME_LIMIT=None,
    )

    db.init_app(app)
    with app.app_context():
        configure_engine(
            db.engine, app.config["WIZARD_DATABASE_TIMEOUT"], owns_sqlite_file(app.config)
        )
    if not web:
        return app

    from . import admin, api, setup, status
    from . import web as web_layer
    from .reporting import metrics

    anonymous_status = api.answer_anonymous_status_first(app)  # innermost: all else wraps it
    web_layer.init_app(app)
    admin.init_app(app)
    for blueprint in (status.bp, setup.bp, api.bp, metrics.bp):
        app.register_blueprint(blueprint)
    web_layer.serve_liveness_first(app)
    anonymous_status.seal()  # what a host adds to the app after this sends the polls to Flask
    return app
