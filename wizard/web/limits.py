"""A body over MAX_CONTENT_LENGTH is refused however it is sent, chunked too."""

from __future__ import annotations

import io


class BodyLimit:
    """A body over MAX_CONTENT_LENGTH is refused however it is sent.

    With a Content-Length, werkzeug refuses it before reading. A chunked body has none, and
    werkzeug stops reading at the limit and hands over what it read, so a license followed
    by megabytes would be cut and then used. This reads a chunked body up to one byte past the
    limit: over it, the request goes on as one whose Content-Length says too much (and gets the
    usual 413 page or JSON); under it, with the body in memory and its length set.
    """

    def __init__(self, app, limit):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        # (A server that can read chunked bodies sets wsgi.input_terminated; one that cannot
        # refuses them itself.)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream, body = environ["wsgi.input"], bytearray()
            while len(body) <= self.limit:
                piece = stream.read(min(64 * 1024, self.limit + 1 - len(body)))
                if not piece:
                    break
                body += piece
            environ["wsgi.input"] = io.BytesIO(b"" if len(body) > self.limit else bytes(body))
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # the length is now what counts
        return self.app(environ, start_response)
