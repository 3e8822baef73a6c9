"""`watcher replay`: a seed live blog written again, oldest entry first, as if live.

The entries go one by one into a temporary copy that a `file` source watches, through the
whole pipeline of the daemon. Alerts go to the console only, never to real channels.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from watcher.config import CONSOLE, ChannelConfig, Config
from watcher.configfile import ConfigError
from watcher.daemon import Daemon
from watcher.model import DeliveryStatus, Entry
from watcher.sources import textblog
from watcher.sources.file import FileSourceConfig
from watcher.store import Store

logger = logging.getLogger(__name__)
SECONDS_PER_ENTRY = 60.0  # at --speed 1; a live blog gains an entry every few minutes
SETTLE_TIMEOUT = 30.0


def replay_config(base: Config, live: Path, step: float) -> Config:
    """`base`'s rules, pointed at the live copy, with every alert sent to the console."""
    source = FileSourceConfig(
        name="replay",
        file=str(live),
        interval=max(step / 3, 0.05),
        jitter=0,
        baseline="alert",
        notify=[CONSOLE],
    )
    rules = [r.model_copy(update={"notify": [CONSOLE], "sources": []}) for r in base.rules]
    return base.model_copy(
        update={
            "state": str(live.parent / "state.db"),
            "sources": [source],
            "channels": {CONSOLE: ChannelConfig(urls=["console://"])},
            "notify": [CONSOLE],
            "rules": rules,
        }
    ).located(live.parent / "replay.yaml")


def read_seed(seed: Path) -> textblog.TextBlog:
    """The live blog to replay; a file that cannot be read or is not in the seed format is
    one line, as a config problem is (exit 2)."""
    try:
        return textblog.parse(seed.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise ConfigError([f"{seed}: cannot read: {exc.strerror or exc}"]) from None
    except (UnicodeDecodeError, textblog.ParseError) as exc:
        raise ConfigError([f"{seed}: not a live blog in the seed format: {exc}"]) from None


async def replay(seed: Path, speed: float, base: Config) -> int:
    blog = read_seed(seed)
    step = SECONDS_PER_ENTRY / speed
    with tempfile.TemporaryDirectory(prefix="watcher-replay-") as tmp:
        live = Path(tmp) / seed.name
        config = replay_config(base, live, step)
        written: list[Entry] = []

        def write() -> None:
            text = textblog.render(blog.date, blog.title, blog.standfirst, written[::-1])
            partial = live.with_suffix(".tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(live)

        write()
        store = Store(config.state_url, config.lock_timeout)
        daemon = Daemon(config, store)

        async def play() -> None:
            for entry in reversed(blog.entries):
                await asyncio.sleep(step)
                if daemon.stopping.is_set():
                    return
                written.append(entry)
                write()
                logger.info("replayed entry", extra={"title": entry.title})
            # Wait for the last entry to be polled and its alerts sent, then stop.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SETTLE_TIMEOUT + step
            while loop.time() < deadline and not daemon.stopping.is_set():
                caught_up = store.active_entries("replay") == len(written)
                if caught_up and not store.delivery_counts().get(DeliveryStatus.PENDING):
                    break
                await asyncio.sleep(0.05)
            daemon.stop()

        player = asyncio.create_task(play())
        await daemon.run()
        await player
        store.close()
    return 0
