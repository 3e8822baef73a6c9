"""Log lines: every registered secret masked, in both formats, whichever library logged."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from watcher import log

URL = "json://desk:pa55-w0rd-xyz@hooks.example/hook?token=t0ken-abcdef-123"


@pytest.mark.parametrize("stream_is_tty", [True, False], ids=["key=value", "json"])
def test_a_secret_is_masked_in_message_fields_and_tracebacks(stream_is_tty: bool) -> None:
    log.add_url_secrets(URL, "json://desk:****@hooks.example/hook?token=****")
    stream = io.StringIO()
    stream.isatty = lambda: stream_is_tty  # type: ignore[method-assign]
    log.setup("info", stream)
    try:
        logger = logging.getLogger("apprise")  # another library's logger, at warning
        logger.warning("sending to %s", URL, extra={"url": URL})
        try:
            raise RuntimeError(f"failed: {URL}")
        except RuntimeError:
            logging.getLogger("watcher").exception("send failed")
    finally:
        logging.getLogger().handlers.clear()
    out = stream.getvalue()
    assert "pa55-w0rd-xyz" not in out and "t0ken-abcdef-123" not in out
    assert out.count(log.MASK) >= 4
    if not stream_is_tty:
        first = json.loads(out.splitlines()[0])
        assert (
            first["msg"] == f"sending to json://desk:{log.MASK}@hooks.example/hook?token={log.MASK}"
        )


def test_the_journal_gets_priorities_and_short_lines(tmp_path) -> None:
    """As under systemd: stderr is the journal when JOURNAL_STREAM names its device:inode;
    the bytes written are what journald parses."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT, watcher_env

    config = tmp_path / "w.yaml"
    config.write_text("sources:\n  - name: gone\n    file: nowhere/*.txt\n")
    err = tmp_path / "stderr"
    with err.open("wb") as sink:
        st = os.fstat(sink.fileno())
        env = watcher_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        subprocess.run(
            [sys.executable, "-m", "watcher", "check", "-c", str(config), "--log-level", "info"],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    lines = err.read_bytes().decode().splitlines()
    assert lines and all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines
    assert any(line.startswith("<4>") or line.startswith("<3>") for line in lines)
    assert not any(line.lstrip("<>0123456789").startswith("{") for line in lines)  # not JSON
    # The journal keeps the time and the priority: neither is written again.
    assert not any(line[3:].startswith(("info", "warning", "error", "debug")) for line in lines)
    assert not any(re.match(r"<\d>\d\d:\d\d", line) for line in lines)


def test_a_skipped_poll_is_one_line_naming_the_source() -> None:
    class Job:
        id = "bbc-live"

        def __str__(self) -> str:
            return "watcher.daemon._poll (trigger: interval[0:01:00], next run at: …)"

    stream = io.StringIO()
    log.setup("info", stream)
    try:
        logging.getLogger("apscheduler.scheduler").warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            Job(),
            1,
        )
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(stream.getvalue())
    assert (line["msg"], line["source"]) == ("poll still running; this one skipped", "bbc-live")
