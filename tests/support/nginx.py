"""Real nginx for the tests: the reverse proxy of an admin console, with a URL prefix, over
plain HTTP or HTTPS with a certificate made in the test."""

import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PREFIX = "/admin/license"

HTTP = """
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 4m;
    types {{ text/html html; }}
{servers}
}}
"""

WIZARD_LOCATION = """
        location {prefix}/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host:$server_port;
            proxy_set_header X-Forwarded-Prefix {prefix};
            proxy_redirect off;
        }}
"""


def need_nginx():
    """Skip when nginx is missing; fail instead under REQUIRE_NGINX=1 (as CI sets)."""
    if os.path.exists(NGINX):
        return
    if os.environ.get("REQUIRE_NGINX") == "1":
        pytest.fail(f"REQUIRE_NGINX=1 but nginx is not at {NGINX}")
    pytest.skip("nginx is not installed (set REQUIRE_NGINX=1 to make this a failure)")


def self_signed_certificate(folder):
    """A certificate for localhost and 127.0.0.1, made now; returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Nginx:
    """One nginx process with the given server blocks; stopped by stop()."""

    def __init__(self, root, servers):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would run as nobody, who cannot read the test's files.
        user = "user root;" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(HTTP.format(root=root, servers=servers, user=user))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_for(self, url):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for _ in range(200):
            try:
                with urllib.request.urlopen(url, timeout=2, context=context):
                    return self
            except urllib.error.HTTPError:
                return self  # nginx answers
            except OSError:
                time.sleep(0.05)
        raise AssertionError((self.root / "error.log").read_text())

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
