"""Links for templates, remembered: every page builds the same few links, and building one
costs more than rendering the rest of a small page."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, request


def init_app(app: Flask) -> None:
    """Give templates a url_for that remembers each link per URL prefix."""

    @functools.lru_cache(maxsize=512)
    def built(endpoint: str, script_root: str, values: tuple[tuple[str, Any], ...]) -> str:
        return app.url_for(endpoint, **dict(values))

    def url_for(endpoint: str, **values: Any) -> str:
        return built(endpoint, request.script_root, tuple(sorted(values.items())))

    app.jinja_env.globals["url_for"] = url_for
