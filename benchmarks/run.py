"""`make bench`: watcher against urlwatch 2.29, on the same loopback feeds, in one run.

For each tool: a first pass over N fresh feeds, an unchanged pass, and a pass after 5% of
the feeds gained an entry and had another edited. Each pass is one process (`watcher check
--json`, `urlwatch`), timed from start to exit, with the peak RSS of its largest process
and the peak memory of all its processes together (PSS, sampled every 0.25 s: reading a
large process's smaps costs CPU that the tools would otherwise have).
Then `watcher run` polls the same feeds every 60 s and its CPU use is measured.
The table goes to stdout and into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import pg_schema, tree_memory_mb, write_section  # noqa: E402
from benchmarks.feedserver import Feeds, Server  # noqa: E402

WATCHER = ROOT / ".venv" / "bin" / "watcher"
URLWATCH_VERSION = "2.29"


@dataclass
class Timed:
    """One process tree from start to exit."""

    seconds: float  # wall
    cpu: float  # user and system, the process and its children
    peak_mb: float  # peak RSS of the largest process
    total_mb: float  # peak of the whole tree's PSS, sampled every 0.25 s
    out: str


@dataclass
class Pass:
    tool: str
    name: str
    run: Timed
    events: int

    @property
    def seconds(self) -> float:
        return self.run.seconds


def timed(cmd: list[str]) -> Timed:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    total, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            total[0] = max(total[0], tree_memory_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, cpu, usage.ru_maxrss / 1024, total[0], out)


def memory(run: Timed) -> str:
    return f"{run.peak_mb:.0f} / {run.total_mb:.0f} MB"


def urlwatch_bin(work: Path) -> Path:
    venv = work / "urlwatch-venv"
    binary = venv / "bin" / "urlwatch"
    if not binary.exists():
        print(f"installing urlwatch {URLWATCH_VERSION} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", f"urlwatch=={URLWATCH_VERSION}"]
        done = subprocess.run(pip, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"could not install urlwatch:\n{done.stderr}")
    return binary


def run_urlwatch(work: Path, feeds: Feeds, server: Server) -> list[Pass]:
    binary = urlwatch_bin(work)
    urls, config, cache = work / "urls.yaml", work / "urlwatch.yaml", work / "urlwatch.db"
    urls.write_text(
        "\n---\n".join(f"name: f{i}\nurl: {server.url(i)}\n" for i in range(feeds.count))
    )
    cache.unlink(missing_ok=True)
    cmd = [str(binary), "--urls", str(urls), "--config", str(config), "--cache", str(cache)]
    subprocess.run([*cmd, "--list"], stdout=subprocess.DEVNULL, check=True)  # writes its config
    return passes("urlwatch", cmd, feeds, re.compile(r"^\d+\. (?:NEW|CHANGED):", re.M))


def run_watcher(
    work: Path, feeds: Feeds, server: Server, state: str = "", tool: str = "watcher"
) -> tuple[list[Pass], Path]:
    config = work / f"{tool.replace(' ', '-')}.yaml"
    state = state or str(work / "watcher.db")
    sources = "".join(f"  - name: f{i}\n    feed: {server.url(i)}\n" for i in range(feeds.count))
    config.write_text(
        f"state: '{state}'\ninterval: 60s\nsources:\n{sources}"
        # Rules tag the events; like urlwatch's report, the events go to stdout (--json).
        "rules:\n  - name: Putin\n    keywords: [Putin, Kremlin]\n    notify: []\n"
        "  - name: Riyadh\n    keywords: [Riyadh, Saudi capital]\n    notify: []\n"
    )
    for stale in work.glob("watcher.db*"):
        stale.unlink()
    cmd = [str(WATCHER), "check", "-c", str(config), "--json"]
    return passes(tool, cmd, feeds, re.compile(r"^\{", re.M)), config


def backends(rows: list[Pass]) -> str:
    """watcher's passes on SQLite and on PostgreSQL, from the same run."""
    by = {(p.tool, p.name): p for p in rows}
    lines = [
        "| pass | watcher, SQLite | watcher, PostgreSQL | PostgreSQL / SQLite "
        "| peak memory, SQLite: largest (RSS) / all (PSS) | the same, PostgreSQL |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("first", "unchanged", "5% changed"):
        lite, pg = by[("watcher", name)], by[("watcher on PostgreSQL", name)]
        lines.append(
            f"| {name} | {lite.seconds:.2f} s | {pg.seconds:.2f} s "
            f"| {pg.seconds / lite.seconds:.2f} | {memory(lite.run)} | {memory(pg.run)} |"
        )
    return "\n".join(lines)


def passes(tool: str, cmd: list[str], feeds: Feeds, count: re.Pattern[str]) -> list[Pass]:
    feeds.write_all()
    out = []
    for name in ("first", "unchanged", "5% changed"):
        if name == "5% changed":
            feeds.change(0.05)
        run = timed(cmd)
        out.append(Pass(tool, name, run, len(count.findall(run.out))))
    return out


def daemon_cpu(config: Path, seconds: float) -> tuple[float, float, float]:
    """Average CPU (% of one core) of `watcher run` over `seconds`, and its peak RSS."""
    ticks = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen(
        [str(WATCHER), "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    time.sleep(10)  # start-up and the first round of polls, which all start at once
    warm_cpu, warm_at = cpu(), time.monotonic()
    time.sleep(seconds)
    steady = (cpu() - warm_cpu) / (time.monotonic() - warm_at) * 100
    overall = cpu() / (time.monotonic() - started) * 100
    proc.terminate()
    _, _, usage = os.wait4(proc.pid, 0)
    return overall, steady, usage.ru_maxrss / 1024


def shared_store(server: Server, feeds: Feeds, instances: int, base_url: str, steady: float) -> str:
    """`instances` daemons on one PostgreSQL: how long until every feed is baselined, and
    then each instance's CPU while the feeds are unchanged and polled every 30 s."""
    with pg_schema(base_url, f"watcher_bench_{instances}") as url:
        return _shared_store(server, feeds, instances, url, steady)


def _shared_store(server: Server, feeds: Feeds, instances: int, url: str, steady: float) -> str:
    import sqlalchemy as sa

    from watcher.store.engine import normalize_url

    config = HERE / ".work" / f"pg{instances}.yaml"
    sources = "".join(f"  - name: f{i}\n    feed: {server.url(i)}\n" for i in range(feeds.count))
    config.write_text(f"state: '{url}'\ninterval: 30s\nsources:\n{sources}")
    feeds.write_all()
    subprocess.run([str(WATCHER), "validate", "-c", str(config)], check=True, capture_output=True)
    from watcher.store import Store
    from watcher.store import sources as table

    Store(url).close()  # the schema, made once before the instances start
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(WATCHER), "run", "-c", str(config), "--instance", f"i{n}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(instances)
    ]
    engine = sa.create_engine(normalize_url(url))
    query = sa.select(sa.func.count()).where(table.c.baselined.is_(True))
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(query).scalar_one() == feeds.count:
                    break
            time.sleep(0.1)
        first = time.perf_counter() - started
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu(pid: int) -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before = [cpu(p.pid) for p in procs]
        time.sleep(steady)
        shares = [(cpu(p.pid) - b) / steady * 100 for p, b in zip(procs, before, strict=True)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        engine.dispose()
    per = ", ".join(f"{s:.1f}%" for s in shares)
    return f"| {instances} | {first:.1f} s | {per} |"


def scale(
    work: Path, server: Server, base: list[Pass], base_count: int, count: int, entries: int
) -> tuple[str, Path]:
    """watcher alone at `count` feeds: its three passes against those at the base size,
    the store's size per entry, and the daemon polling them every 5 minutes."""
    feeds = Feeds(server.root, count, entries)
    config = work / "scale.yaml"
    state = work / "scale.db"
    sources = "".join(f"  - name: f{i}\n    feed: {server.url(i)}\n" for i in range(count))
    config.write_text(f"state: {state}\ninterval: 5m\nsources:\n{sources}")
    for stale in work.glob("scale.db*"):
        stale.unlink()
    cmd = [str(WATCHER), "check", "-c", str(config), "--json"]
    feeds.write_all()
    measured = {"first": timed(cmd), "unchanged": timed(cmd)}
    feeds.change(0.05)
    measured["5% changed"] = timed(cmd)
    size = state.stat().st_size
    by = {p.name: p for p in base if p.tool == "watcher"}
    lines = [
        f"| pass | {count} feeds: wall | CPU | peak memory: largest process (RSS) / all "
        f"(PSS) | events | time against {base_count} feeds |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in measured.items():
        lines.append(
            f"| {name} | {run.seconds:.2f} s | {run.cpu:.2f} s | {memory(run)} "
            f"| {run.out.count(chr(10))} | {run.seconds / by[name].seconds:.1f}x |"
        )
    stored = count * entries
    lines.append(
        f"\nThe store after these passes: {size / 1e6:.0f} MB, {size / stored / 1024:.2f} KB "
        f"per stored entry ({stored:,} entries and their revisions)."
    )
    return "\n".join(lines), config


def table(rows: list[Pass], feeds: int, entries: int, server: str) -> str:
    by = {(p.tool, p.name): p for p in rows}
    lines = [
        f"{feeds} feeds of {entries} entries, served by {server} on loopback; "
        f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}.",
        "",
        "| pass | urlwatch 2.29 | watcher | speed-up | urlwatch peak memory: largest process "
        "(RSS) / all (PSS) | watcher, the same | events (urlwatch / watcher) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("first", "unchanged", "5% changed"):
        u, w = by[("urlwatch", name)], by[("watcher", name)]
        lines.append(
            f"| {name} | {u.seconds:.2f} s | {w.seconds:.2f} s | {u.seconds / w.seconds:.1f}x "
            f"| {memory(u.run)} | {memory(w.run)} | {u.events} / {w.events} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=40)
    parser.add_argument("--daemon-seconds", type=float, default=120.0)
    parser.add_argument("--scale", type=int, default=20000, help="feeds of the scale run (0: none)")
    parser.add_argument("--scale-daemon-seconds", type=float, default=600.0)
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "WATCHER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server for the shared-store runs ('' to skip them)",
    )
    args = parser.parse_args()

    work = HERE / ".work"
    work.mkdir(exist_ok=True)
    feeds = Feeds(work / "site", args.feeds, args.entries)
    feeds.write_all()
    server = Server(work / "site")
    server.start()
    try:
        rows = run_urlwatch(work, feeds, server)
        watcher_rows, config = run_watcher(work, feeds, server)
        rows += watcher_rows
        result = table(rows, args.feeds, args.entries, server.kind)
        if args.daemon_seconds > 0:
            overall, steady, peak = daemon_cpu(config, args.daemon_seconds)
            result += (
                f"\n\n`watcher run` polling the {args.feeds} feeds every 60 s: {steady:.1f}% of "
                f"one core on average over {args.daemon_seconds:.0f} s after start-up "
                f"({overall:.1f}% including start-up and the first round), peak RSS {peak:.0f} MB."
            )
        if args.scale:
            big, big_config = scale(
                work, server, watcher_rows, args.feeds, args.scale, args.entries
            )
            result += f"\n\nwatcher alone at {args.scale} feeds, in the same run:\n\n{big}"
            if args.daemon_seconds > 0:
                overall, steady, peak = daemon_cpu(big_config, args.scale_daemon_seconds)
                result += (
                    f"\n\n`watcher run` polling the {args.scale} feeds every 5 minutes: "
                    f"{steady:.1f}% of one core on average over {args.scale_daemon_seconds:.0f} s "
                    f"after start-up ({overall:.1f}% including it), peak RSS {peak:.0f} MB."
                )
            Feeds(server.root, args.feeds, args.entries).write_all()
        if args.postgres:
            with pg_schema(args.postgres, "watcher_bench_passes") as url:
                pg_rows, _ = run_watcher(work, feeds, server, url, "watcher on PostgreSQL")
            result += (
                f"\n\nThe same passes with the store on PostgreSQL (on this machine), in the "
                f"same run:\n\n{backends(watcher_rows + pg_rows)}"
            )
            lines = [
                "\n\nSeveral `watcher run` instances on one PostgreSQL (on this machine), the "
                f"same {args.feeds} feeds polled every 30 s: time until every feed is polled and "
                "stored the first time, then each instance's CPU over 60 s of unchanged polls.",
                "",
                "| instances | first pass | CPU per instance |",
                "|---|---|---|",
            ]
            lines += [shared_store(server, feeds, n, args.postgres, 60.0) for n in (1, 2)]
            result += "\n".join(lines)
    finally:
        server.stop()
    print(result)
    if not args.no_readme:
        write_section("bench", result)


if __name__ == "__main__":
    main()
