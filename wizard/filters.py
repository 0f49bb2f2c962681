"""How the pages show moments, license ids and entitlement values."""

from datetime import UTC, datetime

from .id_rule import license_id_hint


def when(moment):
    """A moment for people: `28 Nov 2026, 14:05 UTC`."""
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def entitlement_value(value):
    """An entitlement value as a person reads it: Yes/No, numbers and text as they are."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return value


def days_left(moment):
    """Whole days from now until `moment` (negative once past), or None when there is none."""
    if moment is None:
        return None
    return (moment - datetime.now(UTC)).days


def init_app(app):
    """Register the filters every template may use, and a url_for that remembers links."""
    app.add_template_filter(when)
    app.add_template_filter(license_id_hint, "hint")
    app.add_template_filter(entitlement_value)
    app.add_template_filter(days_left)
    app.jinja_env.globals["url_for"] = _memoized_url_for(app.url_for)


def _memoized_url_for(url_for):
    """url_for for templates, remembered per prefix: every page builds the same few links, and
    building one costs more than rendering the rest of a small page."""
    built = {}

    def cached(endpoint, **values):
        from flask import request

        key = (endpoint, request.script_root, tuple(sorted(values.items())))
        url = built.get(key)
        if url is None:
            if len(built) > 512:
                built.clear()
            url = built[key] = url_for(endpoint, **values)
        return url

    return cached
