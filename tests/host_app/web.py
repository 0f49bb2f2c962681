"""The sample host's web apps, each mounting the wizard under /admin/license as docs/embedding.md
shows: a Flask host (werkzeug's DispatcherMiddleware) served by gunicorn, and an ASGI host
(Starlette, through the a2wsgi adapter) served by uvicorn."""

from wizard import create_app

PREFIX = "/admin/license"
HOME = "The host application's own home page"


def flask_host():
    """gunicorn 'tests.host_app.web:flask_host()'"""
    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    host = Flask("host")

    @host.get("/")
    def home():
        return HOME

    host.wsgi_app = DispatcherMiddleware(host.wsgi_app, {PREFIX: create_app()})
    return host


def asgi_host():
    """uvicorn --factory tests.host_app.web:asgi_host"""
    from a2wsgi import WSGIMiddleware
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def home(request):
        return PlainTextResponse(HOME)

    return Starlette(routes=[Route("/", home), Mount(PREFIX, app=WSGIMiddleware(create_app()))])
