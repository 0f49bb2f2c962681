"""Benchmarks: the wizard against bare Flask baselines, side by side, in one run.

    python bench/run.py            # the full run (a few minutes); writes bench/results/latest.*
    python bench/run.py --quick    # a short run that only checks everything still works

Both sides run under gunicorn with the same settings (worker count, gthread, threads) and are
loaded by wrk with the same concurrency; wizard and baseline runs alternate so drift cancels.
Each figure is the median of the rounds, reported as a ratio wizard / baseline.
"""

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "licenses"
WORKERS = 2
TOKEN = "bench-admin-token-" + "x" * 20
POSTGRES_ADMIN = os.environ.get(
    "WIZARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early: {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready: {url}")


class Server:
    def __init__(self, command, env, ready_path, cwd):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(self.url + ready_path, self.process)

    def worker_rss_kib(self):
        """Resident memory of each worker (the master's children), in KiB."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        sizes = []
        for pid in children.read_text().split():
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
        return sizes

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def wizard_server(env, tmp):
    return Server(
        [
            sys.executable,
            "-m",
            "wizard.cli",
            "serve",
            "--port",
            "{port}",
            "--workers",
            str(WORKERS),
        ],
        env,
        "/readyz",
        tmp,
    )


def baseline_server(env, tmp):
    from wizard.server import ACCESS_LOG_FORMAT, THREADS_PER_WORKER

    # The wizard's own gunicorn settings, access log included: the same work outside the app.
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        "127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS_PER_WORKER),
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--graceful-timeout",
        "10",
        "--chdir",
        str(BENCH),
        "baseline_app:app",
    ]
    return Server(command, env, "/const", tmp)


def wrk(url, seconds, connections, script=None, headers=(), env=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        command + [url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(n) for n in errors.groups()) if errors else 0),
    }


def alternate(rounds, wizard_run, baseline_run):
    """Run wizard and baseline in turn; return the medians of each side."""
    sides = {"wizard": [], "baseline": []}
    for _ in range(rounds):
        sides["wizard"].append(wizard_run())
        sides["baseline"].append(baseline_run())
    return {
        side: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        | {"errors": sum(run["errors"] for run in runs)}
        for side, runs in sides.items()
    }


def admin_cookie(url):
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/setup/unlock").read().decode()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"token": TOKEN, "csrf_token": csrf}).encode()
    opener.open(url + "/setup/unlock", data=data)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def count_rows(database_url):
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT count(*) FROM telemetry_identity")).scalar()
    engine.dispose()
    return rows


def postgres_database():
    import sqlalchemy as sa

    name = f"wizard_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN).set(database=name)

    def drop():
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def http_figures(database_url, label, seconds, rounds, tmp, figures, read_figures):
    env = {
        **os.environ,
        "WIZARD_DATABASE_URL": database_url,
        "BENCH_DATABASE_URL": database_url,
        "WIZARD_INSTANCE_PATH": str(tmp / f"instance-{label}"),
        "WIZARD_ADMIN_TOKEN": TOKEN,
        "BENCH_TOKEN": TOKEN,
    }
    wizard = wizard_server(env, tmp)  # creates the schema the baseline reflects
    baseline = baseline_server(env, tmp)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "wizard.cli",
                "set",
                "--customer-id",
                "bench",
                "--instance-id",
                "bench-instance",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        if read_figures:
            result = alternate(
                rounds,
                lambda: wrk(wizard.url + "/api/v1/status", seconds, 16),
                lambda: wrk(baseline.url + "/const", seconds, 16),
            )
            figures.append(figure("GET /api/v1/status (public) rps", result, "rps", 0.6))
            figures.append(
                figure(
                    "GET /api/v1/status p99 latency (ms)",
                    result,
                    "p99_ms",
                    2.0,
                    lower_is_better=True,
                )
            )
            result = alternate(
                rounds,
                lambda: wrk(wizard.url + "/healthz", seconds, 16),
                lambda: wrk(baseline.url + "/const", seconds, 16),
            )
            figures.append(figure("GET /healthz rps", result, "rps", 0.9))
            figures.append(
                figure("GET /healthz p99 latency (ms)", result, "p99_ms", 2.0, lower_is_better=True)
            )
            cookie = admin_cookie(wizard.url)
            result = alternate(
                rounds,
                lambda: wrk(wizard.url + "/status", seconds, 16, headers=[f"Cookie: {cookie}"]),
                lambda: wrk(baseline.url + "/const", seconds, 16),
            )
            figures.append(figure("GET /status (admin page) rps", result, "rps", 0.45))
            wizard_rss = max(wizard.worker_rss_kib())
            baseline_rss = max(baseline.worker_rss_kib())
            figures.append(
                {
                    "figure": "warm worker resident memory (MiB)",
                    "wizard": round(wizard_rss / 1024, 1),
                    "baseline": round(baseline_rss / 1024, 1),
                    "ratio": round(wizard_rss / baseline_rss, 2),
                    "target": "<= 1.5",
                    "pass": wizard_rss / baseline_rss <= 1.5,
                }
            )
        result = alternate(
            rounds,
            lambda: wrk(wizard.url + "/api/v1/identity", seconds, 16, BENCH / "put.lua", env=env),
            lambda: wrk(baseline.url + "/upsert", seconds, 16, BENCH / "put.lua", env=env),
        )
        one_row = count_rows(database_url) == 1
        row = figure(f"PUT /api/v1/identity, 16 clients, {label} rps", result, "rps", 0.5)
        row["pass"] = row["pass"] and result["wizard"]["errors"] == 0 and one_row
        row["note"] = (
            f"errors {result['wizard']['errors']}/{result['baseline']['errors']}, "
            f"one row: {one_row}"
        )
        figures.append(row)
    finally:
        wizard.stop()
        baseline.stop()


def figure(name, result, key, target, lower_is_better=False):
    wizard, baseline = result["wizard"][key], result["baseline"][key]
    ratio = wizard / baseline if baseline else float("inf")
    passed = ratio <= target if lower_is_better else ratio >= target
    return {
        "figure": name,
        "wizard": round(wizard, 2),
        "baseline": round(baseline, 2),
        "ratio": round(ratio, 2),
        "target": f"{'<=' if lower_is_better else '>='} {target}",
        "pass": passed,
    }


def license_figures(figures, runs):
    from wizard.licenses import load_trusted_keys, read_documents, verify_license

    keys = load_trusted_keys("production")
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = path.read_bytes()
        parse, total = [], []
        for _ in range(runs):
            started = time.perf_counter()
            read_documents(data)
            parsed = time.perf_counter()
            verify_license(data, keys)
            done = time.perf_counter()
            parse.append(parsed - started)
            total.append(done - parsed)
        parse_ms, total_ms = statistics.median(parse) * 1e3, statistics.median(total) * 1e3
        figures.append(
            {
                "figure": f"verify {path.name} (ms; parse {parse_ms:.2f}, "
                f"signatures {max(total_ms - parse_ms, 0):.2f})",
                "wizard": round(total_ms, 2),
                "baseline": 5.0,
                "ratio": round(total_ms / 5.0, 2),
                "target": "<= 1 (under 5 ms)",
                "pass": total_ms < 5.0,
            }
        )


def startup_figure(figures, runs, tmp):
    env = {
        **os.environ,
        "WIZARD_DATABASE_URL": f"sqlite:///{tmp}/startup.db",
        "WIZARD_INSTANCE_PATH": str(tmp / "instance-startup"),
        "WIZARD_ADMIN_TOKEN": TOKEN,
    }
    subprocess.run(
        [sys.executable, "-m", "wizard.cli", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    cli = shutil.which("setup-wizard") or str(Path(sys.executable).parent / "setup-wizard")

    def timed(command):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True)
        return time.perf_counter() - started

    wizard, baseline = [], []
    for _ in range(runs):
        wizard.append(timed([cli, "status"]))
        baseline.append(timed([sys.executable, "-c", "import flask_sqlalchemy, sqlalchemy.orm"]))
    w, b = statistics.median(wizard) * 1e3, statistics.median(baseline) * 1e3
    figures.append(
        {
            "figure": "setup-wizard status, start to exit (ms)",
            "wizard": round(w),
            "baseline": round(b),
            "ratio": round(w / b, 2),
            "target": "<= 1.5",
            "pass": w / b <= 1.5,
        }
    )


def table(figures):
    lines = ["| figure | wizard | baseline | ratio | target | pass |", "|---|---|---|---|---|---|"]
    for row in figures:
        note = f" ({row['note']})" if row.get("note") else ""
        lines.append(
            f"| {row['figure']}{note} | {row['wizard']} | {row['baseline']} | "
            f"{row['ratio']} | {row['target']} | {'yes' if row['pass'] else 'NO'} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run that checks it works")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL save")
    parser.add_argument("--only-saves", action="store_true", help="only the PUT figures")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench needs wrk: apt-get install wrk")
    seconds, rounds, runs = (1, 1, 20) if args.quick else (5, 3, 200)
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        http_figures(
            f"sqlite:///{tmp}/bench.db",
            "SQLite",
            seconds,
            rounds,
            tmp,
            figures,
            read_figures=not args.only_saves,
        )
        if not args.no_postgres:
            url, drop = postgres_database()
            try:
                http_figures(url, "PostgreSQL", seconds, rounds, tmp, figures, read_figures=False)
            finally:
                drop()
        if not args.only_saves:
            license_figures(figures, runs)
            startup_figure(figures, 5 if args.quick else 15, tmp)
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "workers": WORKERS,
        "threads": __import__("wizard.server").server.THREADS_PER_WORKER,
        "wrk_connections": 16,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "date": time.strftime("%Y-%m-%d"),
    }
    text = table(figures)
    print(text)
    print(f"\nmachine: {machine}")
    if not (args.quick or args.only_saves):
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.json").write_text(
            json.dumps({"machine": machine, "figures": figures}, indent=2)
        )
        (RESULTS / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
