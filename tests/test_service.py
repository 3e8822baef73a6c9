"""`watcher run` as systemd runs it: notify socket, reload, stop, metrics, health, logs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DAEMON_CONFIG as CONFIG
from tests.helpers import (
    ROOT,
    SEED,
    Watcher,
    add_paragraph,
    free_port,
    run_watcher,
    wait_for,
    watcher_env,
)
from tests.servers import LocalServer

pytestmark = pytest.mark.slow


class NotifySocket:
    """The datagram socket systemd would own, receiving what the daemon says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def saw(self, field: str) -> list[str]:
        return [m for m in self.messages if field in m.split("\n")]

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    peer = NotifySocket(tmp_path / "notify.sock")
    yield peer
    peer.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize(
    ("unit", "as_name"),
    [("watcher.service", "watcher.service"), ("watcher@.service", "watcher@2.service")],
)
def test_unit_files_verify(unit: str, as_name: str, tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: .ci/run installs systemd"
    text = (ROOT / "systemd" / unit).read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text and "DynamicUser=yes" in text
    # The unit as shipped, pointed at this checkout's watcher instead of /opt/watcher (the
    # template as one of its instances).
    copy = tmp_path / as_name
    watcher = str(ROOT / ".venv" / "bin" / "watcher")
    copy.write_text(text.replace("/opt/watcher/bin/watcher", watcher))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert as_name not in done.stderr, done.stderr


def test_ready_watchdog_reload_and_stop(
    seed_copy: Path, make_config, notify: NotifySocket, tmp_path: Path
) -> None:
    config = make_config(CONFIG)
    env = watcher_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="300000")
    with Watcher("run", "-c", str(config), env=env) as watcher:
        ready = wait_for(lambda: notify.saw("READY=1"), what="READY=1")
        assert "STATUS=watching 1 source, 0 failing; 0 alerts pending" in ready[0]
        wait_for(lambda: len(notify.saw("WATCHDOG=1")) >= 3, what="watchdog pings")

        # A good config: a new source is picked up, without losing the old one's state.
        other = tmp_path / "more"
        other.mkdir()
        shutil.copy(SEED, other / "second.txt")
        config.write_text(
            CONFIG.replace(
                "rules:", "  - name: more\n    file: more/*.txt\n    interval: 0.3s\nrules:"
            )
        )
        watcher.proc.send_signal(signal.SIGHUP)
        watcher.wait_stderr('"config reloaded"')
        assert notify.saw("RELOADING=1")
        watcher.wait_stderr('"source": "more/second.txt"')

        # A broken config is refused, and the running one goes on.
        config.write_text(CONFIG.replace("interval: 0.3s", "intervl: 0.3s"))
        watcher.proc.send_signal(signal.SIGHUP)
        refused = watcher.wait_stderr('"config not reloaded"')
        assert "unknown key 'intervl'" in refused
        add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
        watcher.wait_stdout("▶ Updated: US 'recognising realities on the ground'")

        started = time.monotonic()
        assert watcher.stop() == 0
        assert time.monotonic() - started < 10
        assert notify.saw("STOPPING=1")


def test_metrics_and_health_over_http(seed_copy: Path, make_config) -> None:
    port = free_port()
    hanging = LocalServer()
    hanging.serve("/feed", "x", delay=60)
    try:
        config = make_config(
            CONFIG.replace(
                "rules:",
                f"  - name: stuck\n    feed: {hanging.url('/feed')}\n"
                "    interval: 0.5s\n    jitter: 0s\nrules:",
            )
            + f"http:\n  listen: 127.0.0.1:{port}\n"
        )
        with Watcher("run", "-c", str(config)) as watcher:
            watcher.wait_stderr('"polled"')
            add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed.")
            watcher.wait_stdout("▶ Updated")
            base = f"http://127.0.0.1:{port}"

            def scraped() -> str | None:
                status, text = get(f"{base}/metrics")
                return (
                    text
                    if status == 200 and 'watcher_deliveries{status="done"} 1.0' in text
                    else None
                )

            text = wait_for(scraped, what="metrics with the delivery done")
            source = "live/000_cda4f8f913c75e77.txt"
            assert f'watcher_polls_total{{outcome="changed",source="{source}"}}' in text
            assert 'watcher_events_total{kind="updated"} 1.0' in text
            assert "watcher_outbox_depth 0.0" in text
            assert f'watcher_last_success_timestamp_seconds{{source="{source}"}}' in text
            assert re.search(r"watcher_poll_duration_seconds_count \d+", text)
            assert f'watcher_poll_last_duration_seconds{{source="{source}"}}' in text

            # The stuck source's poll hangs: soon it is late, and /healthz says so.
            def unhealthy() -> str | None:
                status, body = get(f"{base}/healthz")
                return body if status == 503 else None

            assert "stuck: last poll started" in wait_for(unhealthy, timeout=30, what="503")
            assert watcher.stop() == 0
    finally:
        hanging.close()


def test_healthz_is_200_while_polls_are_on_time(seed_copy: Path, make_config) -> None:
    port = free_port()
    config = make_config(CONFIG + f"http:\n  listen: 127.0.0.1:{port}\n")
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr('"polled"')
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        assert watcher.stop() == 0


def test_secrets_never_reach_the_logs(seed_copy: Path, make_config) -> None:
    secret = "s3cr3t-t0ken-value"
    config = make_config(
        CONFIG.replace("interval: 0.3s", "interval: 0.3s\n    baseline: alert")
        + "channels:\n  hook: json://user:${HOOK_TOKEN}@127.0.0.1:9/hook?token=${HOOK_TOKEN}\n"
        + "notify: [hook]\n"
    )
    env = watcher_env(HOOK_TOKEN=secret)
    with Watcher("run", "-c", str(config), "--log-level", "debug", env=env) as watcher:
        watcher.wait_stderr("will retry")
        assert watcher.stop() == 0
    logs = "\n".join(watcher.stderr + watcher.stdout)
    assert secret not in logs
    assert "***" in logs or "hook" in logs
    status = run_watcher("status", "-c", str(config), env=env)
    assert secret not in status.stdout + status.stderr


def test_status_history_and_diff(seed_copy: Path, make_config) -> None:
    config = make_config(CONFIG)
    assert run_watcher("check", "-c", str(config)).returncode == 0
    add_paragraph(seed_copy, "US 'recognising realities on the ground'", "Putin agreed to talks.")
    assert run_watcher("check", "-c", str(config)).returncode == 0

    status = run_watcher("status", "-c", str(config))
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines[0].split()[-4:] == ["POLL", "BY", "LAST", "ERROR"]
    assert lines[1].startswith("live/000_cda4f8f913c75e77.txt")
    assert "deliveries: 0 pending, 1 done, 0 failed, 0 dropped" in status.stdout

    history = run_watcher("history", "live", "-c", str(config))
    assert history.returncode == 0
    row = next(line for line in history.stdout.splitlines() if line.startswith("us-recognising"))
    assert row.split()[1] == "2"
    revisions = run_watcher(
        "history", "live", "us-recognising-realities-on-the-ground", "-c", str(config)
    )
    assert [line.split()[0] for line in revisions.stdout.splitlines()] == ["REV", "1", "2"]

    diff = run_watcher("diff", "live", "us-recognising-realities-on-the-ground", "-c", str(config))
    assert diff.returncode == 0
    assert "revision 1" in diff.stdout and "-> 2" in diff.stdout
    assert "{+Putin agreed to talks.+}" in diff.stdout
    assert "He added that Zelensky, Putin and Trump all" in diff.stdout  # the whole entry

    missing = run_watcher("diff", "live", "no-such-entry", "-c", str(config))
    assert missing.returncode == 1 and "no entry 'no-such-entry'" in missing.stderr
    nowhere = run_watcher("history", "nowhere", "-c", str(config))
    assert nowhere.returncode == 1 and "no stored source 'nowhere'" in nowhere.stderr


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_soak_memory_stays_flat(tmp_path: Path, make_config) -> None:
    """Ten blogs edited back and forth for ~40 s, polled every 0.2 s: memory must level off."""
    blogs = tmp_path / "blogs"
    blogs.mkdir()
    original = SEED.read_text(encoding="utf-8")
    for n in range(10):
        (blogs / f"b{n}.txt").write_text(original, encoding="utf-8")
    config = make_config(CONFIG.replace("interval: 0.3s", "interval: 0.2s\n    jitter: 0s"))
    stop = threading.Event()

    def edit() -> None:
        flip = False
        while not stop.wait(0.3):
            flip = not flip
            for n in range(10):
                path = blogs / f"b{n}.txt"
                text = (
                    original.replace("Nato allies", "Nato allies, Putin noted,")
                    if flip
                    else original
                )
                path.write_text(text, encoding="utf-8")

    with Watcher("run", "-c", str(config), "--log-level", "warning") as watcher:
        editor = threading.Thread(target=edit, daemon=True)
        editor.start()
        samples = []
        try:
            for _ in range(20):
                time.sleep(2)  # sampling period of the measurement, not a wait for an outcome
                samples.append(rss_kb(watcher.proc.pid))
        finally:
            stop.set()
            editor.join()
        assert watcher.stop() == 0
    alerts = sum(line.startswith("▶ Updated") for line in watcher.stdout)
    assert alerts > 100, "the soak must exercise the pipeline"
    early, late = max(samples[4:10]), max(samples[14:])
    assert late - early < 6 * 1024, f"RSS grew from {early} KB to {late} KB: {samples}"


def test_daemon_under_systemd_environment(
    seed_copy: Path, tmp_path: Path, notify: NotifySocket
) -> None:
    """The environment the unit gives: STATE_DIRECTORY, CONFIGURATION_DIRECTORY, secrets."""
    state = tmp_path / "var-lib-watcher"
    conf = tmp_path / "etc-watcher"
    state.mkdir()
    conf.mkdir()
    (conf / "watcher.yaml").write_text(
        "state: ${STATE_DIRECTORY}/watcher.db\n"
        f"sources:\n  - name: live\n    file: {seed_copy}\n"
        "channels:\n  ops: json://127.0.0.1:9/${OPS_TOKEN}\n",
        encoding="utf-8",
    )
    env = watcher_env(
        STATE_DIRECTORY=str(state),
        CONFIGURATION_DIRECTORY=str(conf),
        NOTIFY_SOCKET=str(notify.path),
        WATCHDOG_USEC="30000000",
        OPS_TOKEN="abcdef123456",
        PYTHONUNBUFFERED="1",
    )
    with Watcher("run", "-c", str(conf / "watcher.yaml"), env=env) as watcher:
        wait_for(lambda: notify.saw("READY=1"), what="READY=1")
        wait_for((state / "watcher.db").exists, what="the store in STATE_DIRECTORY")
        assert watcher.stop() == 0
    assert "abcdef123456" not in "\n".join(watcher.stderr)
    assert os.stat(state / "watcher.db").st_size > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as `sudo watcher status` has")
def test_root_commands_leave_the_services_files_its_own() -> None:
    """`sudo watcher check|status` against the service's store: the credential, root's
    alone, is read, and every file the commands create beside the database is the
    service user's (who owns the folder), or the service could not open it."""
    service_uid = 61236  # a DynamicUser's kind of number, with no name
    top = Path(tempfile.mkdtemp(prefix="watcher-service-"))
    try:
        top.chmod(0o755)
        state, creds = top / "state", top / "credentials"
        state.mkdir(mode=0o700)
        os.chown(state, service_uid, service_uid)
        creds.mkdir(mode=0o700)  # root's alone, as /etc/watcher/credentials
        (creds / "hook").write_text("t0ken-4422\n")
        seed = top / "live.txt"
        shutil.copy(SEED, seed)
        seed.chmod(0o644)
        config = top / "watcher.yaml"
        config.write_text(
            f"state: {state}/watcher.db\nsources:\n  - name: live\n    file: {seed}\n"
            "channels:\n  hook: json://127.0.0.1:9/${credential:hook}\n"
        )
        env = watcher_env(WATCHER_CREDENTIALS=str(creds))
        for command in ("check", "status"):
            done = run_watcher(command, "-c", str(config), env=env, cwd=top)
            assert done.returncode == 0, done.stderr
        owners = {p.name: p.stat().st_uid for p in state.iterdir()}
        assert "watcher.db" in owners and set(owners.values()) == {service_uid}, owners
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("unit", ["watcher.service", "watcher@.service"])
def test_the_units_agree_with_the_daemon_and_the_readme(unit: str) -> None:
    from watcher.daemon import STOP_DEADLINE

    text = (ROOT / "systemd" / unit).read_text()
    readme = (ROOT / "README.md").read_text()
    assert "RestartPreventExitStatus=2" in text  # a config error is not restarted in a loop
    documentation = text.split("Documentation=file://", 1)[1].split()[0]
    assert f"README.md {documentation}" in readme.replace("-m 0644 ", "")  # installed there
    assert "EnvironmentFile" not in text and "LoadCredential=" in text
    assert f"up to {STOP_DEADLINE:g} s" in readme
    if unit == "watcher.service":
        assert f"stops within {STOP_DEADLINE:g} s on SIGTERM" in text
        # The steps' drop-in loads every credential their config names, and no other.
        steps = readme.split("## Run as a service", 1)[1].split("\n## ", 1)[0]
        named = set(re.findall(r"\$\{credential:([\w-]+)\}", steps))
        loaded = set(re.findall(r"LoadCredential=([\w-]+):/etc/watcher/credentials/\1\b", steps))
        assert named == loaded == {"slack-token", "web-token"}


def test_reload_starts_the_listener_and_forgets_removed_sources(
    seed_copy: Path, make_config, tmp_path: Path
) -> None:
    other = tmp_path / "more"
    other.mkdir()
    shutil.copy(SEED, other / "second.txt")
    two = CONFIG.replace(
        "rules:", "  - name: more\n    file: more/*.txt\n    interval: 0.3s\nrules:"
    )
    config = make_config(two)
    port = free_port()
    with Watcher("run", "-c", str(config)) as watcher:
        watcher.wait_stderr('"source": "more/second.txt"')
        # Reloaded without the second source, and with a listener it did not have.
        config.write_text(CONFIG + f"http:\n  listen: 127.0.0.1:{port}\n")
        watcher.proc.send_signal(signal.SIGHUP)
        watcher.wait_stderr('"config reloaded"')

        def scraped() -> str | None:
            try:
                status, text = get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return None
            return text if status == 200 and "live/000_" in text else None

        text = wait_for(scraped, what="metrics on the new listener")
        assert "more/second.txt" not in text
        assert watcher.stop() == 0
