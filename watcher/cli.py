"""The command line: `watcher run | check | validate | poll | pause | resume | status |
web | history | diff | test-notify | rules test | preview | replay`.

Size: a function per command, each a few lines that hand over to the module doing the
work, and the parser that names them; split, they would be harder to find.

Exit status: 0 success; 2 a config error; 3 some source failed (`check`); 1 anything
else that stops the command, such as an unusable state database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from watcher import __version__, log
from watcher.advice import warnings
from watcher.config import Config, load, locate
from watcher.configfile import ConfigError
from watcher.text import counted

if TYPE_CHECKING:
    from watcher.store import Store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_SOURCE = 0, 1, 2, 3
TEST_MARK = "[watcher test]"  # the title of every message test-notify sends begins so
LEVELS = ["debug", "info", "warning", "error"]


def _config(args: argparse.Namespace) -> Config:
    return load(args.config)


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.daemon import Daemon, open_store

    config = _config(args)
    if args.instance:
        config = config.model_copy(update={"instance": args.instance})
    store = open_store(config)
    if store is None:  # stopped while waiting for the database
        return EXIT_OK
    try:
        asyncio.run(Daemon(config, store).run())
    finally:
        store.close()
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from watcher.check import check, default_workers
    from watcher.model import DeliveryStatus
    from watcher.notify.outbox import Outbox
    from watcher.store import Store

    config = _config(args)
    workers = args.workers or default_workers(len(config.sources))
    out = sys.stdout
    # With --json, stdout carries the JSON lines alone; console alerts go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        outcome = check(config, workers)
        store = Store(config.state_url, config.lock_timeout)
        try:
            # A name of its own: a daemon of this instance may be draining the channels.
            me = f"{config.instance_name}:check:{os.getpid()}"
            store.register(me)
            queued = store.delivery_counts().get(DeliveryStatus.PENDING, 0)
            Outbox.of(store, config).drain(me, due_only=False)
            waiting = store.delivery_counts().get(DeliveryStatus.PENDING, 0)
        finally:
            store.close()
    if args.json:
        out.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in outcome.events)
        out.flush()
    # A notice, at the journal's info priority when stderr is the journal.
    prefix = "<6>" if log.to_journal(sys.stderr) else ""
    print(
        f"{prefix}watcher: checked {counted(len(config.sources), 'source')} "
        f"({outcome.polled} polled): {outcome.failed} failed, "
        f"{counted(len(outcome.events), 'event')}, {counted(queued, 'alert')} queued, "
        f"{waiting} still waiting",
        file=sys.stderr,
    )
    return EXIT_SOURCE if outcome.failed else EXIT_OK


def cmd_test_notify(args: argparse.Namespace) -> int:
    from watcher.notify.channels import Channel
    from watcher.notify.render import SAMPLE, render

    config = _config(args)
    spec = config.channels.get(args.channel)
    if spec is None:
        known = ", ".join(sorted(config.channels))
        print(f"watcher: unknown channel '{args.channel}' (channels: {known})", file=sys.stderr)
        return EXIT_CONFIG
    channel = Channel(args.channel, spec.urls, spec.format)
    title, body = render(SAMPLE, channel.format, spec.title, spec.body)
    # Marked, so that no one on a desk takes the sample for news.
    result = channel.send(f"{TEST_MARK} {title}", body)
    # Apprise's privacy form of a URL hides passwords but shows some tokens (headers, for
    # one); every secret watcher knows is masked too. The answers come redacted.
    for url, answer in zip(channel.safe_urls, result.answers, strict=False):
        print(f"{log.redact(url)}\n  {answer}")
    print("sent" if result.ok else "not sent")
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_rules_test(args: argparse.Namespace) -> int:
    from watcher.rulestest import run

    config = _config(args)
    return run(config, args.source, args.since, sys.stdout)


def _with_store(args: argparse.Namespace, work: Callable[[Config, Store], int]) -> int:
    from watcher.lookback import NotFound
    from watcher.store import Store

    config = _config(args)
    store = Store(config.state_url, config.lock_timeout)
    try:
        return work(config, store)
    except NotFound as exc:
        print(f"watcher: {exc.args[0]}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()


def cmd_web(args: argparse.Namespace) -> int:
    """The desk alone, against the store: for a second machine, or a replica."""
    from aiohttp import web as aiohttp_web

    from watcher.store import Store
    from watcher.web import Site, install

    config = _config(args)
    address = args.listen or (config.http.listen if config.http else "127.0.0.1:9108")
    host, _, port = address.rpartition(":")
    store = Store(config.state_url, config.lock_timeout)
    app = aiohttp_web.Application()
    install(app, Site(store, lambda: config))
    print(f"watcher: the desk is at http://{address}/", file=sys.stderr)
    try:
        aiohttp_web.run_app(
            app, host=host.strip("[]"), port=int(port), print=None, shutdown_timeout=2.0
        )
    finally:
        store.close()
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from watcher import lookback

    return _with_store(args, lambda config, store: lookback.status(config, store, sys.stdout))


# Each command's --help ends with one of these.
EXAMPLES = {
    "run": "watcher run -c /etc/watcher/watcher.yaml",
    "check": "watcher check -c config/watcher.yaml --json | jq .title",
    "validate": "watcher validate -c config/watcher.yaml",
    "poll": "watcher poll guardian-ukraine bbc-live",
    "pause": "watcher pause guardian-ukraine",
    "resume": "watcher resume guardian-ukraine",
    "status": "sudo /opt/watcher/bin/watcher status -c /etc/watcher/watcher.yaml",
    "web": "watcher web -c /etc/watcher/watcher.yaml --listen 127.0.0.1:8080",
    "history": "watcher history guardian-ukraine 65a1f0c8",
    "diff": "watcher diff guardian-ukraine 65a1f0c8 1 3",
    "test-notify": "watcher test-notify slack",
    "preview": "watcher preview https://example.org/live --selectors '{entry: div.post}'",
    "replay": "watcher replay seeds/000_cda4f8f913c75e77.txt --speed 60",
}
UNCHANGED = {
    "poll": "paused: not polled until `watcher resume`",
    "pause": "paused",
    "resume": "not paused: nothing to resume",
}
REQUESTED = {
    "poll": "due now: a running watcher polls it within 5 s, its backoff forgotten",
    "pause": "paused: not polled until `watcher resume`",
    "resume": "resumed: due now",
}


def cmd_request(args: argparse.Namespace) -> int:
    """`watcher poll | pause | resume SOURCE…`, through the store a daemon reads."""
    from watcher.store import Store

    config = _config(args)
    known = [s.name for s in config.sources]
    unknown = [name for name in args.sources if name not in known]
    if unknown:
        raise ConfigError(
            [f"watcher: unknown source '{n}' (sources: {', '.join(known)})" for n in unknown]
        )
    store = Store(config.state_url, config.lock_timeout)
    try:
        changed = store.request(args.sources, args.command)
    finally:
        store.close()
    for name in args.sources:
        said = REQUESTED if name in changed else UNCHANGED
        print(f"{name}: {said[args.command]}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from watcher import lookback

    return _with_store(
        args, lambda config, store: lookback.history(store, args.source, args.entry, sys.stdout)
    )


def cmd_diff(args: argparse.Namespace) -> int:
    from watcher import lookback

    return _with_store(
        args,
        lambda config, store: lookback.diff(
            store, args.source, args.entry, args.rev1, args.rev2, sys.stdout
        ),
    )


def cmd_preview(args: argparse.Namespace) -> int:
    from watcher.preview import parse_selectors, preview, write_json, write_text

    config = load(args.config) if args.config or locate(None).exists() else None
    found = preview(args.location, parse_selectors(args.selectors), config)
    (write_json if args.json else write_text)(found, sys.stdout)
    return EXIT_SOURCE if found.error is not None else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    config = _config(args)
    counts = [(len(config.sources), "source"), (len(config.rules), "rule")]
    counts.append((len(config.channels), "channel"))
    said = ", ".join(counted(n, word) for n, word in counts)
    for warning in warnings(config):
        print(f"{locate(args.config)}: warning: {warning}", file=sys.stderr)
    print(f"{locate(args.config)}: ok ({said})")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from watcher.replay import replay

    if args.speed <= 0:
        print("watcher: --speed must be above 0", file=sys.stderr)
        return EXIT_CONFIG
    explicit = args.config or None
    base = load(explicit) if explicit or locate(None).exists() else Config()
    return asyncio.run(replay(Path(args.file), args.speed, base))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Watch live blogs and feeds; alert on new and changed entries that match "
        "your rules.",
    )
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        help="default: info for run and replay, warning for the others",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # -c and --log-level work after the command too: `watcher run -c x --log-level debug`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", help="config file (default: $WATCHER_CONFIG, then ./config/watcher.yaml)"
    )
    common.add_argument(
        "--log-level", choices=LEVELS, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    def command(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog="example:\n  " + EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(func=func)
        return sub

    _service_commands(command)
    _lookback_commands(command)
    _tool_commands(command, commands, common)
    return parser


Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def _service_commands(command: Command) -> None:
    run = command(
        "run", cmd_run, "run the daemon: poll every source on its interval and send alerts"
    )
    run.add_argument(
        "--instance",
        help="this instance's name, when several share a database (default: the host name)",
    )
    check = command("check", cmd_check, "poll every source once, send alerts, exit")
    check.add_argument(
        "--json", action="store_true", help="print each event as a JSON line on stdout"
    )
    check.add_argument(
        "--workers",
        type=int,
        help="processes to poll with (default: one per CPU, one per 200 sources at most)",
    )
    command("validate", cmd_validate, "check a config file and report every problem")
    for verb, what in (
        ("poll", "poll sources now, their backoff forgotten (a running daemon does it)"),
        ("pause", "stop polling sources until resumed"),
        ("resume", "poll paused sources again, now"),
    ):
        request = command(verb, cmd_request, what)
        request.add_argument("sources", nargs="+", metavar="SOURCE", help="a configured source")
    command(
        "status", cmd_status, "each source's last poll, change, error and next poll; deliveries"
    )
    web = command("web", cmd_web, "serve the desk (the web page) alone, against the store")
    web.add_argument("--listen", help="HOST:PORT (default: http.listen, else 127.0.0.1:9108)")


def _lookback_commands(command: Command) -> None:
    history = command("history", cmd_history, "a source's entries, or an entry's revisions")
    history.add_argument("source", help="a source (its stored name, or its configured one)")
    history.add_argument("entry", nargs="?", help="an entry's id, as `history SOURCE` lists them")
    diff = command("diff", cmd_diff, "the word diff between two revisions of an entry")
    diff.add_argument("source")
    diff.add_argument("entry")
    diff.add_argument("rev1", nargs="?", type=int, help="default: the one before rev2")
    diff.add_argument("rev2", nargs="?", type=int, help="default: the latest")


def _tool_commands(
    command: Command,
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    test_notify = command(
        "test-notify", cmd_test_notify, "send a sample alert to a channel and show each answer"
    )
    test_notify.add_argument("channel", help="a channel name from the config")
    rules = commands.add_parser("rules", help="work with watch rules", description="watch rules")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    rules_test = rules_commands.add_parser(
        "test",
        parents=[common],
        help="run the rules over the stored entries and show what would have fired",
        description="run the current rules over the stored entries and revisions, and show "
        "what would have fired; nothing is sent",
        epilog="example:\n  watcher rules test --source guardian-ukraine --since 2025-02-13",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rules_test.add_argument("--source", help="only this source (a configured name or a stored one)")
    rules_test.add_argument("--since", help="only revisions since this date (YYYY-MM-DD[THH:MM])")
    rules_test.set_defaults(func=cmd_rules_test)
    preview = command(
        "preview",
        cmd_preview,
        "show what watcher makes of a page or feed (a URL or a file), storing nothing",
    )
    preview.add_argument("location", help="the live blog's URL, or a saved copy of it")
    preview.add_argument(
        "--selectors",
        metavar="YAML",
        help="a page source's selectors, e.g. '{entry: div.post}' or '{split: h2}'",
    )
    preview.add_argument("--json", action="store_true", help="print it as one JSON document")
    replay = command("replay", cmd_replay, "play a seed live blog as if it were written live")
    replay.add_argument("file", help="a live blog in the plain-text seed format")
    replay.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="how many times faster than one entry a minute (default: 1)",
    )


def main(argv: list[str] | None = None) -> int:
    from watcher.store import StoreError

    args = build_parser().parse_args(argv)
    log.setup(args.log_level or ("info" if args.command in ("run", "replay") else "warning"))
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `watcher preview URL | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
