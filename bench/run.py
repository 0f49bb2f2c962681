"""Benchmarks: the wizard against bare Flask baselines, side by side, in one run.

    python bench/run.py                 # the full run (about eight minutes); writes bench/results/
    python bench/run.py --quick         # a short run that only checks everything still works
    python bench/run.py --against FILE  # also say whether this run agrees with an earlier one

Made to be trusted on a noisy machine:
- both sides run under gunicorn with the same settings (workers, gevent, connections, access
  log), pinned to the same CPU, loaded by wrk pinned to another (with two CPUs or more);
- every server is warmed up by a run that is thrown away before it is measured;
- the reads (the status, /healthz, the admin page) load wizard and baseline at the same
  time, in many short rounds, so that a slower moment of the machine slows both alike; the
  saves, which would wait on each other in one database, and the CLI alternate instead; each
  round gives one ratio;
- each figure reports the min, median and max of its rounds' ratios and passes on the median;
  a figure whose rounds spread by more than 15% of the median is marked unstable, since its
  ratio then says little about the wizard.
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
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "licenses"
WORKERS = 2
CONNECTIONS = 16
UNSTABLE_SPREAD = 0.15
# With two CPUs or more, the servers share one and wrk has another: the load generator then
# takes no CPU from the side it measures.
PINNED = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
SERVER_CPUS = ["taskset", "-c", "1"] if PINNED else []
WRK_CPUS = ["taskset", "-c", "0"] if PINNED else []
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
        command = SERVER_CPUS + [part.replace("{port}", str(self.port)) for part in command]
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(self.url + ready_path, self.process)

    def worker_rss_kib(self):
        """Resident memory of each worker (the master's children), in KiB. (taskset runs the
        server in its own process: the pid is gunicorn's master.)"""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
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
    from wizard.server import ACCESS_LOG_FORMAT, CONNECTIONS_PER_WORKER, WORKER_CLASS

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
        WORKER_CLASS,
        "--worker-connections",
        str(CONNECTIONS_PER_WORKER),
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


def wrk(url, seconds, connections=CONNECTIONS, script=None, headers=(), env=None):
    threads = "-t1" if PINNED else "-t2"
    command = [*WRK_CPUS, "wrk", threads, f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", "10s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url],
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


def alternate(rounds, wizard_run, baseline_run, warm_up=None):
    """Warm both sides up, then run them in turn, `rounds` times; return every round."""
    if warm_up:
        warm_up(wizard_run)
        warm_up(baseline_run)
    pairs = []
    for number in range(rounds):
        # Alternate which side goes first, so that a drift in the machine hits both alike.
        if number % 2:
            baseline, wizard = baseline_run(), wizard_run()
        else:
            wizard, baseline = wizard_run(), baseline_run()
        pairs.append((wizard, baseline))
    return pairs


def side_by_side(rounds, wizard_run, baseline_run, warm_up=None):
    """Warm both sides up, then load them at the same time, `rounds` times; return every round.

    Both servers share one CPU, so loaded together each gets half of it, and whatever slows
    the machine meanwhile (another guest on the host, a stolen tick) slows both alike: the
    ratio of their rates is then the ratio of their costs, with little of the noise that
    runs taken one after the other pick up. For reads only: two writers of one database would
    wait on each other."""
    if warm_up:
        warm_up(wizard_run)
        warm_up(baseline_run)

    def both():
        results = {}

        def load(side, run):
            results[side] = run()

        threads = [
            threading.Thread(target=load, args=(side, run))
            for side, run in (("wizard", wizard_run), ("baseline", baseline_run))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results["wizard"], results["baseline"]

    return [both() for _ in range(rounds)]


def admin_cookie(url):
    """An unlocked session's cookie, once its 'Unlocked' message has been shown: a cookie that
    still carried the message would be rewritten on every request of the run."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/setup/unlock").read().decode()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"token": TOKEN, "csrf_token": csrf}).encode()
    opener.open(url + "/setup/unlock", data=data)
    opener.open(url + "/status").read()
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

    def warm_up(run):
        run(seconds=1)

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

            def status_run(seconds=seconds):
                return wrk(wizard.url + "/api/v1/status", seconds)

            def const_run(seconds=seconds):
                return wrk(baseline.url + "/const", seconds)

            pairs = side_by_side(rounds, status_run, const_run, warm_up)
            figures.append(figure("GET /api/v1/status (public) rps", pairs, "rps", 0.7))
            # A latency is the server's alone: measured with one side loaded at a time.
            pairs = alternate(rounds, status_run, const_run)
            figures.append(
                figure("GET /api/v1/status p99 latency (ms)", pairs, "p99_ms", 2.0, lower=True)
            )
            pairs = side_by_side(
                rounds,
                lambda seconds=seconds: wrk(wizard.url + "/healthz", seconds),
                lambda seconds=seconds: wrk(baseline.url + "/const", seconds),
                warm_up,
            )
            figures.append(figure("GET /healthz rps", pairs, "rps", 0.9))
            cookie = [f"Cookie: {admin_cookie(wizard.url)}"]
            pairs = side_by_side(
                rounds,
                lambda seconds=seconds: wrk(wizard.url + "/status", seconds, headers=cookie),
                lambda seconds=seconds: wrk(baseline.url + "/const", seconds),
                warm_up,
            )
            figures.append(figure("GET /status (admin page) rps", pairs, "rps", 0.5))
            wizard_rss = max(wizard.worker_rss_kib())
            baseline_rss = max(baseline.worker_rss_kib())
            figures.append(
                single(
                    "warm worker resident memory (MiB)",
                    wizard_rss / 1024,
                    baseline_rss / 1024,
                    1.5,
                    lower=True,
                )
            )
        put = BENCH / "put.lua"
        pairs = alternate(
            rounds,
            lambda seconds=seconds: wrk(
                wizard.url + "/api/v1/identity", seconds, script=put, env=env
            ),
            lambda seconds=seconds: wrk(baseline.url + "/upsert", seconds, script=put, env=env),
            warm_up,
        )
        one_row = count_rows(database_url) == 1
        errors = sum(w["errors"] for w, _ in pairs), sum(b["errors"] for _, b in pairs)
        row = figure(f"PUT /api/v1/identity, {CONNECTIONS} clients, {label} rps", pairs, "rps", 0.6)
        row["pass"] = row["pass"] and errors[0] == 0 and one_row
        row["note"] = f"errors {errors[0]}/{errors[1]}, one row: {one_row}"
        figures.append(row)
    finally:
        wizard.stop()
        baseline.stop()


def figure(name, pairs, key, target, lower=False):
    """A figure from rounds of (wizard, baseline) runs: each round's ratio, and their spread."""
    ratios = sorted(w[key] / b[key] for w, b in pairs if b[key])
    median = statistics.median(ratios)
    spread = (ratios[-1] - ratios[0]) / median if median else float("inf")
    return {
        "figure": name,
        "wizard": round(statistics.median(w[key] for w, _ in pairs), 2),
        "baseline": round(statistics.median(b[key] for _, b in pairs), 2),
        "ratio": round(median, 2),
        "ratio_min": round(ratios[0], 2),
        "ratio_max": round(ratios[-1], 2),
        "rounds": len(ratios),
        "stable": spread <= UNSTABLE_SPREAD,
        "target": f"{'<=' if lower else '>='} {target}",
        "pass": median <= target if lower else median >= target,
    }


def single(name, wizard, baseline, target, lower=False):
    """A figure measured once (memory): no rounds, so no spread."""
    ratio = wizard / baseline
    return {
        "figure": name,
        "wizard": round(wizard, 1),
        "baseline": round(baseline, 1),
        "ratio": round(ratio, 2),
        "ratio_min": round(ratio, 2),
        "ratio_max": round(ratio, 2),
        "rounds": 1,
        "stable": True,
        "target": f"{'<=' if lower else '>='} {target}",
        "pass": ratio <= target if lower else ratio >= target,
    }


def license_figures(figures, runs):
    """Each real license file verified `runs` times: milliseconds against the 5 ms limit."""
    from wizard.licenses import load_trusted_keys, verify_license

    keys = load_trusted_keys("production")
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = path.read_bytes()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            verify_license(data, keys)
            times.append((time.perf_counter() - started) * 1e3)
        times.sort()
        median = statistics.median(times)
        figures.append(
            {
                "figure": f"verify {path.name} (ms)",
                "wizard": round(median, 2),
                "baseline": 5.0,
                "ratio": round(median / 5.0, 2),
                "ratio_min": round(times[0] / 5.0, 2),
                "ratio_max": round(times[-1] / 5.0, 2),
                "rounds": runs,
                # A verification is short; a hiccup of the machine lands in max: judge the
                # typical run (the 90th percentile) for the spread.
                "stable": (times[int(runs * 0.9)] - times[0]) / median <= 1.0,
                "target": "<= 1 (under 5 ms)",
                "pass": median < 5.0,
            }
        )


def report_round_figure(figures, runs, tmp):
    """One reporting round with 100 collectors, collected, written and kept (offline: nothing
    leaves), in process: milliseconds of the wizard's own time against the 50 ms limit. The
    collectors return at once, so their own time is nothing."""
    from wizard import create_app
    from wizard.db import db
    from wizard.identity import Actor, save_identity
    from wizard.reporting import Collectors, Reporter
    from wizard.schema import upgrade_schema

    app = create_app(
        {
            "WIZARD_DATABASE_URL": f"sqlite:///{tmp}/report-bench.db",
            "WIZARD_INSTANCE_PATH": str(tmp / "report-instance"),
            "WIZARD_ADMIN_TOKEN": TOKEN,
            "WIZARD_REPORTING": "offline",
        },
        web=False,
    )
    collectors = Collectors()
    for number in range(100):
        collectors.register(f"metric_{number}", lambda number=number: number)
    with app.app_context():
        upgrade_schema()
        save_identity("bench", "bench-instance", actor=Actor("cli"))
    reporter = Reporter(app, collectors)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        reporter.tick(force=True)
        times.append((time.perf_counter() - started) * 1e3)
    with app.app_context():
        db.engine.dispose()
    times.sort()
    median = statistics.median(times)
    figures.append(
        {
            "figure": "report round, 100 collectors (ms)",
            "wizard": round(median, 2),
            "baseline": 50.0,
            "ratio": round(median / 50.0, 2),
            "ratio_min": round(times[0] / 50.0, 2),
            "ratio_max": round(times[-1] / 50.0, 2),
            "rounds": runs,
            "stable": (times[int(runs * 0.9)] - times[0]) / median <= 1.0,
            "target": "<= 1 (under 50 ms)",
            "pass": median < 50.0,
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
        return {"ms": (time.perf_counter() - started) * 1e3}

    def warm_up(run):
        run()

    pairs = alternate(
        runs,
        lambda: timed([cli, "status"]),
        lambda: timed([sys.executable, "-c", "import flask_sqlalchemy, sqlalchemy.orm"]),
        warm_up,
    )
    figures.append(figure("setup-wizard status, start to exit (ms)", pairs, "ms", 1.3, lower=True))


def table(figures, earlier=None):
    """The results, one row a figure; with an earlier run, its ratio and whether they agree
    (within 15%) in the same row."""
    head = "| figure | wizard | baseline | ratio (min / median / max) | target | pass |"
    rule = "|---|---|---|---|---|---|"
    if earlier is not None:
        head += " earlier ratio | agree (within 15%) |"
        rule += "---|---|"
    lines = [head, rule]
    for row in figures:
        note = f" ({row['note']})" if row.get("note") else ""
        spread = f"{row['ratio_min']} / **{row['ratio']}** / {row['ratio_max']}"
        verdict = ("yes" if row["pass"] else "NO") + ("" if row["stable"] else ", unstable")
        line = (
            f"| {row['figure']}{note} | {row['wizard']} | {row['baseline']} | {spread} | "
            f"{row['target']} | {verdict} |"
        )
        if earlier is not None:
            line += agreement(row, earlier.get(row["figure"]))
        lines.append(line)
    return "\n".join(lines)


def agreement(row, other):
    """The earlier run's ratio of a figure, and whether this run's agrees with it."""
    if other is None:
        return " — | not in the earlier run |"
    difference = abs(row["ratio"] - other["ratio"]) / other["ratio"] if other["ratio"] else 0
    stable = row["stable"] and other["stable"]
    verdict = ("yes" if difference <= 0.15 else "NO") if stable else "unstable, not judged"
    return f" {other['ratio']} | {verdict}, {difference:.0%} apart |"


def earlier_figures(path):
    """The figures of an earlier run's latest.json, by name."""
    return {row["figure"]: row for row in json.loads(Path(path).read_text())["figures"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run that checks it works")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL save")
    parser.add_argument("--only-saves", action="store_true", help="only the PUT figures")
    parser.add_argument("--against", metavar="FILE", help="an earlier run's latest.json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench needs wrk: apt-get install wrk")
    seconds, rounds, runs = (1, 2, 20) if args.quick else (3, 9, 300)
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
            report_round_figure(figures, 5 if args.quick else 50, tmp)
            startup_figure(figures, 3 if args.quick else 15, tmp)
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "workers": WORKERS,
        "worker_class": __import__("wizard.server").server.WORKER_CLASS,
        "wrk_connections": CONNECTIONS,
        "pinned": PINNED,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "date": time.strftime("%Y-%m-%d"),
    }
    text = table(figures)
    print(table(figures, earlier_figures(args.against)) if args.against else text)
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
