"""Pages as a browser without script sees them: a form's CSRF token and hidden fields, the
unlock, and the wizard driven step by step."""

import io
import re

from .settings import ADMIN_TOKEN


def csrf_token_from(html):
    """The CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def hidden(html, name):
    """The value of a hidden field of a page."""
    for pattern in (
        rf'name="{name}" type="hidden" value="([^"]*)"',
        rf'type="hidden" name="{name}" value="([^"]*)"',
        rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"',
    ):
        match = re.search(pattern, html)
        if match:
            return match.group(1)
    raise AssertionError(f"no hidden {name} in the page")


class AdminActions:
    """The repeated admin action: unlock the wizard in a test client."""

    def __init__(self, client):
        self._client = client

    def unlock(self, token=ADMIN_TOKEN, next_path=None):
        page = self._client.get("/setup/unlock")
        target = "/setup/unlock" + (f"?next={next_path}" if next_path else "")
        return self._client.post(
            target, data={"token": token, "csrf_token": csrf_token_from(page.text)}
        )

    def lock(self):
        page = self._client.get("/status")
        return self._client.post("/setup/lock", data={"csrf_token": csrf_token_from(page.text)})


class Wizard:
    """Drives the wizard like a browser without script: every answer is posted to its step's
    address and the redirect to the next step is followed."""

    def __init__(self, client):
        self.client = client

    def upload(self, data, filename="license.yaml"):
        page = self.client.get("/setup/upload")
        return self.client.post(
            "/setup/upload",
            data={
                "csrf_token": csrf_token_from(page.text),
                "license_file": (io.BytesIO(data), filename),
            },
            content_type="multipart/form-data",
            follow_redirects=True,
        )

    def paste(self, text):
        page = self.client.get("/setup/paste")
        return self.client.post(
            "/setup/paste",
            data={"csrf_token": csrf_token_from(page.text), "license_text": text},
            follow_redirects=True,
        )

    def _start(self, path):
        page = self.client.get("/setup/")
        return self.client.post(
            path, data={"csrf_token": csrf_token_from(page.text)}, follow_redirects=True
        )

    def manual(self):
        """Type the IDs: the start page's button."""
        return self._start("/setup/manual")

    def detect(self):
        """Detect from Replicated: the start page's button."""
        return self._start("/setup/detect")

    def choose(self, number):
        page = self.client.get("/setup/choose")
        form = {"csrf_token": csrf_token_from(page.text)}
        if number is not None:
            form["choice"] = str(number)
        return self.client.post("/setup/choose", data=form, follow_redirects=True)

    def details(self, button="review", **fields):
        page = self.client.get("/setup/details")
        form = {"csrf_token": csrf_token_from(page.text), button: "1", **fields}
        return self.client.post("/setup/details", data=form, follow_redirects=True)

    def save(self, review=None):
        review = review or self.client.get("/setup/review")
        return self.client.post(
            "/setup/review",
            data={
                "csrf_token": csrf_token_from(review.text),
                "based_on": hidden(review.text, "based_on"),
                "shown": hidden(review.text, "shown"),
                "save": "Save",
            },
        )
