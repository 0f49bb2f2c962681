"""What the tests share: the test's admin token and ids, the fixture licenses, PostgreSQL."""

import functools
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

ADMIN_TOKEN = "test-admin-token-" + "x" * 24
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LICENSE_ID = "1vusOokxAVp1tkRGuyxnF23PJcq"  # valid-v1beta1.yaml
FIXTURES = Path(__file__).parent.parent / "fixtures" / "licenses"

POSTGRES_ADMIN_URL = os.environ.get(
    "WIZARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def fixture(name):
    """The bytes of a license file in tests/fixtures/licenses."""
    return (FIXTURES / name).read_bytes()


@functools.cache
def _postgres_problem():
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgresql]')"
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {error}"
    return None


def need_postgres():
    """Skip when PostgreSQL (or psycopg) is missing; fail instead under REQUIRE_POSTGRES=1."""
    problem = _postgres_problem()
    if problem and os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {problem}")
    if problem:
        pytest.skip(f"{problem} (set REQUIRE_POSTGRES=1 to make this a failure)")
