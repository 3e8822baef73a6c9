"""Log lines: every registered secret masked, in both formats, whichever library logged."""

from __future__ import annotations

import io
import json
import logging

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
