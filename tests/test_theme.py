"""Pages a console can make its own: its stylesheet, served by the wizard and covered by the
CSP; a forced colour scheme; and what every page says to robots and compresses."""

import gzip
import re

import pytest

from tests.support import AdminActions

pytestmark = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)

CONSOLE_CSS = ":root { --accent: #7a1fa2; --font: Georgia, serif; --radius: 2px; }\n"


@pytest.fixture
def console_css(tmp_path):
    path = tmp_path / "console.css"
    path.write_text(CONSOLE_CSS)
    return path


def _stylesheets(page):
    return re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)


def test_a_deployments_stylesheet_comes_after_the_wizards_and_is_served_here(make_app, console_css):
    client = make_app(WIZARD_STYLESHEET=str(console_css)).test_client()
    page = client.get("/setup/unlock")
    assert _stylesheets(page.text) == ["/static/wizard.css", "/theme.css"], "it can override"
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    served = client.get("/theme.css")
    assert served.status_code == 200 and served.mimetype == "text/css"
    assert served.text == CONSOLE_CSS
    console_css.write_text(CONSOLE_CSS + ".card { border-width: 2px; }\n")
    assert "border-width: 2px" in client.get("/theme.css").text, "an edit shows on reload"
    again = client.get("/theme.css", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 200, "the old tag no longer matches the edited file"


def test_without_a_stylesheet_there_is_only_the_wizards(make_app):
    client = make_app().test_client()
    assert _stylesheets(client.get("/setup/unlock").text) == ["/static/wizard.css"]
    assert client.get("/theme.css").status_code == 404


def test_behind_a_prefix_the_stylesheet_is_under_it(make_app, console_css):
    client = make_app(WIZARD_STYLESHEET=str(console_css), WIZARD_PROXY_FIX="prefix=1").test_client()
    page = client.get("/setup/unlock", headers={"X-Forwarded-Prefix": "/admin/license"})
    assert "/admin/license/theme.css" in _stylesheets(page.text)


@pytest.mark.parametrize(
    ("name", "words"),
    [("missing.css", "not a file this user can read"), ("console.txt", "must be a .css file")],
)
def test_a_stylesheet_that_cannot_be_served_stops_the_start_naming_the_variable(
    make_app, tmp_path, name, words
):
    (tmp_path / "console.txt").write_text("x")
    with pytest.raises(ValueError, match="WIZARD_STYLESHEET") as refused:
        make_app(WIZARD_STYLESHEET=str(tmp_path / name))
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("scheme", "attribute"),
    [("auto", None), ("light", "light"), ("dark", "dark"), ("DARK", "dark")],
)
def test_the_colour_scheme_follows_the_browser_unless_forced(make_app, scheme, attribute):
    page = make_app(WIZARD_COLOR_SCHEME=scheme).test_client().get("/status").text
    html_tag = re.search(r"<html[^>]*>", page).group()
    if attribute:
        assert f'data-color-scheme="{attribute}"' in html_tag
        assert f'<meta name="color-scheme" content="{attribute}">' in page
    else:
        assert "data-color-scheme" not in html_tag
        assert '<meta name="color-scheme" content="light dark">' in page


def test_an_unknown_colour_scheme_stops_the_start(make_app):
    with pytest.raises(ValueError, match="WIZARD_COLOR_SCHEME must be one of auto, light, dark"):
        make_app(WIZARD_COLOR_SCHEME="purple")


def test_no_page_or_answer_asks_to_be_indexed(make_app):
    client = make_app().test_client()
    AdminActions(client).unlock()
    for path in ("/status", "/setup/", "/api/v1/status", "/static/wizard.css", "/no-such-page"):
        response = client.get(path)
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow", path
    assert '<meta name="robots" content="noindex, nofollow">' in client.get("/status").text


def test_static_files_are_gzipped_and_pages_never_are(make_app):
    client = make_app().test_client()
    gzip_ok = {"Accept-Encoding": "gzip, deflate, br"}
    plain = client.get("/static/wizard.css")
    assert "Content-Encoding" not in plain.headers
    packed = client.get("/static/wizard.css", headers=gzip_ok)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 2
    assert packed.headers["ETag"] != plain.headers["ETag"], "another body, another tag"
    cached = client.get(
        "/static/wizard.css", headers={**gzip_ok, "If-None-Match": packed.headers["ETag"]}
    )
    assert cached.status_code == 304
    for path in ("/setup/unlock", "/status", "/api/v1/status"):
        assert "Content-Encoding" not in client.get(path, headers=gzip_ok).headers, path


def test_a_stylesheet_removed_after_the_start_is_a_404_not_a_500(make_app, console_css):
    app = make_app(WIZARD_STYLESHEET=str(console_css))
    console_css.unlink()
    response = app.test_client().get("/theme.css")
    assert response.status_code == 404
    assert "WIZARD_STYLESHEET cannot be read now" in response.text
    assert app.test_client().get("/status").status_code == 200
