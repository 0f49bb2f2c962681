"""Words the pages, the API and the CLI share for the same things."""

from __future__ import annotations


def size(count: int) -> str:
    """A size as a person reads it: `1 MiB`, `256 KiB`, `4,096 bytes`."""
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if count >= unit and count % (unit // 4) == 0:
            amount = count / unit
            return f"{amount:g} {name}"
    return f"{count:,} bytes"


def actor(who: str | None) -> str:
    """Who made a change, in the history's own words."""
    if not who:
        return "—"
    if who == "session":
        return "an admin, in the browser"
    if who == "token":
        return "the admin token (a script or a console)"
    if who == "WIZARD_AUTH=none":
        return "the console in front (WIZARD_AUTH=none)"
    if who.startswith("cli:"):
        return f"{who.removeprefix('cli:')}, on the command line"
    return who
