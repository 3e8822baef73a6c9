"""A broken config is one clear line per problem, with file:line and key, and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_watcher, watcher_env
from watcher.cli import main
from watcher.config import load, parse
from watcher.configfile import ConfigError

GOOD = """\
state: state.db
interval: 30s
sources:
  - name: live
    file: blogs/*.txt
channels:
  slack: "json://127.0.0.1:9/hook"
rules:
  - name: Putin
    keywords: [Putin]
  - name: Riyadh
    keywords: Riyadh
    notify: [slack]
"""

# (what is broken, replacement of GOOD, expected line, expected message)
BROKEN = [
    ("yaml", ("  - name: live\n", "  - name: live\n   bad: [\n"), 5, "YAML syntax error"),
    (
        "typo",
        ("interval: 30s", "intervl: 30s"),
        2,
        "intervl: unknown key 'intervl' (did you mean 'interval'?)",
    ),
    (
        "type",
        ("keywords: Riyadh", "keywords: {a: 1}"),
        12,
        "rules[1].keywords: Input should be a valid list",
    ),
    (
        "choice",
        ("    file: blogs/*.txt", "    file: blogs/*.txt\n    baseline: loud"),
        6,
        "sources[0].baseline: Input should be 'silent' or 'alert'",
    ),
    (
        "channel",
        ("notify: [slack]", "notify: [slak]"),
        13,
        "rules[1].notify: unknown channel 'slak' (did you mean 'slack'?)",
    ),
    (
        "interval",
        ("interval: 30s", "interval: 5 minutes"),
        2,
        "interval: invalid duration '5 minutes'",
    ),
    (
        "regex",
        ("keywords: Riyadh", "regex: '(unclosed'"),
        12,
        "rules[1].regex: invalid regex: missing ), unterminated subpattern",
    ),
    (
        "keyword",
        ("keywords: [Putin]", "keywords: [C++]"),
        10,
        "rules[0].keywords: keyword 'C++' ends with punctuation",
    ),
    (
        "no trigger",
        ("    keywords: [Putin]\n", ""),
        9,
        "rules[0]: a rule needs keywords or a regex",
    ),
    (
        "env",
        ('"json://127.0.0.1:9/hook"', '"json://${NO_SUCH_TOKEN}@127.0.0.1/"'),
        7,
        "channels.slack.urls: environment variable NO_SUCH_TOKEN is not set",
    ),
    (
        "apprise",
        ('"json://127.0.0.1:9/hook"', '"nonsense://x"'),
        7,
        "channels.slack.urls[0]: Apprise cannot use this URL (nonsense://…)",
    ),
    (
        "email without sender",
        ('"json://127.0.0.1:9/hook"', '"mailto://smtp.example.org?to=desk@example.org"'),
        7,
        "Invalid From email specified (say who sends: ?from=watcher@example.org)",
    ),
    (
        "unit",
        (
            '  slack: "json://127.0.0.1:9/hook"',
            '  slack:\n    url: "json://127.0.0.1:9/hook"\n    rate_limit: 2/h',
        ),
        9,
        "channels.slack.rate_limit: Input should be a valid integer, unable to parse string as"
        " an integer (messages a minute, e.g. 2 or 2/m)",
    ),
    (
        "size",
        ("interval: 30s", "interval: 30s\nfetch: {max_bytes: 10 megs}"),
        3,
        "fetch.max_bytes: Input should be a valid integer, unable to parse string as an "
        "integer (bytes, decoded, e.g. 10MB or 10485760)",
    ),
    (
        "source",
        ("    notify: [slack]", "    notify: [slack]\n    sources: [lve]"),
        14,
        "rules[1].sources: unknown source 'lve' (did you mean 'live'?)",
    ),
    (
        "duplicate",
        ("  - name: Riyadh", "  - name: Putin"),
        11,
        "rules[1].name: duplicate rule name 'Putin'",
    ),
    (
        "missing",
        ("  - name: live\n", "  - interval: 5s\n"),
        4,
        "sources[0]: missing required key 'name'",
    ),
    ("not a mapping", (GOOD, "- just\n- a list\n"), 1, "the config must be a mapping"),
    (
        "template",
        (
            '  slack: "json://127.0.0.1:9/hook"',
            '  slack:\n    url: "json://127.0.0.1:9/hook"\n    body: "{{ nope }}"',
        ),
        9,
        "channels.slack.body: template error: 'nope' is undefined",
    ),
    (
        "template syntax",
        (
            '  slack: "json://127.0.0.1:9/hook"',
            '  slack:\n    url: "json://127.0.0.1:9/hook"\n    title: "{% if %}"',
        ),
        9,
        "channels.slack.title: template error: Expected an expression",
    ),
    (
        "time zone",
        (
            '  slack: "json://127.0.0.1:9/hook"',
            '  slack:\n    url: "json://127.0.0.1:9/hook"\n'
            '    quiet_hours: {start: "22:00", end: "07:00", timezone: Mars/Base}',
        ),
        9,
        "channels.slack.quiet_hours.timezone: unknown time zone 'Mars/Base'",
    ),
    (
        "quiet time",
        (
            '  slack: "json://127.0.0.1:9/hook"',
            '  slack:\n    url: "json://127.0.0.1:9/hook"\n'
            '    quiet_hours: {start: "25:00", end: "07:00"}',
        ),
        9,
        "channels.slack.quiet_hours.start: invalid time '25:00'",
    ),
]


@pytest.mark.parametrize(
    ("change", "line", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_config(
    change: tuple[str, str],
    line: int,
    message: str,
    make_config,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert change[0] in GOOD
    path = make_config(GOOD.replace(*change))
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"{path}:{line}: "), first
    assert message in first


def test_values_as_people_write_them(make_config) -> None:
    text = GOOD.replace("interval: 30s", "interval: 1m30s\nfetch: {max_bytes: 2MB}")
    text = text.replace(
        '  slack: "json://127.0.0.1:9/hook"',
        '  slack:\n    url: "json://127.0.0.1:9/hook"\n    rate_limit: 3/m',
    )
    config = load(make_config(text))
    assert config.interval == 90
    assert config.fetch.max_bytes == 2_000_000
    assert config.channels["slack"].rate_limit == 3
    assert config.rules[1].keywords == ["Riyadh"]  # one string, a list of one


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("tgram://secret4token/chat", "(tgram://…): no service of that name, or the URL"),
        ("mailto://secret4user:pw@host?from=bad%20addr", "Invalid From email specified"),
    ],
)
def test_a_secret_in_a_url_apprise_refuses_stays_out_of_the_error(
    make_config, url: str, says: str
) -> None:
    path = make_config(GOOD.replace("json://127.0.0.1:9/hook", url))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert says in str(caught.value)
    assert "secret4" not in str(caught.value)


def test_good_config_validates(make_config, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_config(GOOD)
    assert main(["validate", "-c", str(path)]) == 0
    assert "ok (1 source, 2 rules, 2 channels)" in capsys.readouterr().out


def test_missing_config_file(tmp_path: Path) -> None:
    done = run_watcher("validate", "-c", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"{tmp_path / 'nope.yaml'}: config file not found"


def test_errors_are_one_line_each_with_no_traceback(make_config) -> None:
    path = make_config(
        GOOD.replace("interval: 30s", "intervl: 30s").replace(
            "keywords: Riyadh", "keywords: {a: 1}"
        )
    )
    for command in ("validate", "check", "run"):
        done = run_watcher(command, "-c", str(path))
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2, lines
        assert all(re.match(rf"{re.escape(str(path))}:\d+: \S+: ", line) for line in lines)


def test_secret_from_env_stays_out_of_errors(make_config) -> None:
    secret = "xoxb-super-secret-token"
    path = make_config(GOOD.replace('"json://127.0.0.1:9/hook"', '"nonsense://${TOKEN}/x"'))
    done = run_watcher("validate", "-c", str(path), env=watcher_env(TOKEN=secret))
    assert done.returncode == 2
    assert secret not in done.stderr + done.stdout


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "w.yaml"
    path.write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir("/")
    config = load(path)
    assert config.state_url == f"sqlite:///{tmp_path / 'conf' / 'state.db'}"
    assert config.base_dir == tmp_path / "conf"


def test_shipped_configs_are_valid() -> None:
    from tests.helpers import ROOT

    for name in ("watcher.yaml", "example.yaml"):
        config = load(ROOT / "config" / name)
        assert config.sources and config.rules
    assert load(ROOT / "config" / "watcher.yaml").sources[0].baseline == "alert"


def test_yaml_on_yes_no_are_strings_not_booleans(make_config) -> None:
    path = make_config(
        GOOD + "  - name: Gone\n    keywords: [no]\n    on: [removed]\n    match: whole\n"
    )
    rule = load(path).rules[2]
    assert rule.on == ["removed"] and rule.keywords == ["no"]


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    text = (
        "intervl: 5m\n"
        "channels:\n  slack: 'json://${WATCHER_T_A}:${WATCHER_T_B}@127.0.0.1:9/x'\n"
        "rules:\n  - name: R\n    keywords: [Putin]\n    notify: [slak]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path / "w.yaml")
    problems = "\n".join(caught.value.problems)
    assert "intervl: unknown key 'intervl' (did you mean 'interval'?)" in problems
    assert "rules[0].notify: unknown channel 'slak' (did you mean 'slack'?)" in problems
    assert "environment variables WATCHER_T_A, WATCHER_T_B are not set" in problems


def test_secrets_from_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher import log

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "hook-token").write_text("s3cr3t-tok3n\n")
    text = "channels:\n  hook: 'json://127.0.0.1:9/hook?token=${credential:hook-token}'\n"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))  # as systemd sets it
    config = parse(text, tmp_path / "w.yaml")
    assert config.channels["hook"].urls == ["json://127.0.0.1:9/hook?token=s3cr3t-tok3n"]
    assert "s3cr3t-tok3n" not in log.redact("sent with s3cr3t-tok3n")
    # By hand, outside the unit: the files the unit loads them from.
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    monkeypatch.setenv("WATCHER_CREDENTIALS", str(creds))
    assert parse(text, tmp_path / "w.yaml").channels["hook"].urls[0].endswith("s3cr3t-tok3n")
    monkeypatch.setenv("WATCHER_CREDENTIALS", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path / "w.yaml")
    (problem,) = caught.value.problems
    assert "channels.hook.urls: credential hook-token: cannot read" in problem


def test_one_item_may_be_written_without_brackets(tmp_path: Path) -> None:
    text = (
        "notify: console\n"
        "sources:\n  - name: s\n    file: x.txt\n    notify: console\n    ignore: case\n"
        "rules:\n  - name: R\n    keywords: Riyadh\n    on: new\n    sources: s\n"
        "    notify: console\n"
    )
    config = parse(text, tmp_path / "w.yaml")
    rule = config.rules[0]
    assert (config.notify, rule.keywords, rule.on, rule.sources, rule.notify) == (
        ["console"],
        ["Riyadh"],
        ["new"],
        ["s"],
        ["console"],
    )
    assert (config.sources[0].notify, config.sources[0].ignore) == (["console"], ["case"])


def test_validate_warns_of_events_nothing_would_send(tmp_path: Path, capsys) -> None:
    config = tmp_path / "watcher.yaml"
    config.write_text(
        "channels:\n  slack: 'json://127.0.0.1:9/hook'\n"
        "sources:\n  - name: a\n    file: a.txt\n  - name: b\n    file: b.txt\n"
        "rules:\n  - name: R\n    keywords: [Putin]\n    sources: [a]\n"
    )
    assert main(["validate", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert "warning: sources[1] (b): no rule covers it and it has no notify" in err
    assert "warning: channels.slack: no rule or source sends to it" in err
    assert "sources[0]" not in err


def test_validate_warns_of_rules_that_can_never_fire(tmp_path: Path, capsys) -> None:
    config = tmp_path / "watcher.yaml"
    config.write_text(
        "sources:\n  - name: a\n    file: a.txt\n"
        "rules:\n  - name: R\n    keywords: [Putin visit, Trump, Put*]\n    none: [putin]\n"
        "  - name: S\n    keywords: [Riyadh]\n    all: [peace talks]\n    none: [Talks]\n"
        "    notify: []\n"
    )
    assert main(["validate", "-c", str(config)]) == 0  # warnings stop nothing
    lines = [x for x in capsys.readouterr().err.splitlines() if "rules[" in x]
    assert lines == [
        f"{config}: warning: rules[0] (R): keywords: 'Putin visit' contains none: 'putin': "
        "it never fires",
        f"{config}: warning: rules[1] (S): all: 'peace talks' contains none: 'Talks': "
        "it never fires",
        f"{config}: warning: rules[1] (S): notify is empty: it tags events but sends them nowhere",
    ]


@pytest.mark.parametrize(
    ("http", "warned"),
    [
        ("{listen: 0.0.0.0:9108}", True),
        ("{listen: '[::]:9108'}", True),
        ("{listen: 192.168.1.5:9108, token: abcdefghijklmnopq}", False),
        ("{listen: 127.0.0.1:9108}", False),
        ("{listen: localhost:9108}", False),
        ("{listen: '[::1]:9108'}", False),
    ],
)
def test_validate_warns_of_a_desk_open_to_the_network(
    tmp_path: Path, capsys, http: str, warned: bool
) -> None:
    config = tmp_path / "watcher.yaml"
    config.write_text(f"http: {http}\n")
    assert main(["validate", "-c", str(config)]) == 0
    assert ("there is no http.token" in capsys.readouterr().err) is warned


def test_the_example_config_shows_every_key_and_validates() -> None:
    from tests.helpers import ROOT
    from watcher.config import _known_keys

    text = (ROOT / "config" / "example.yaml").read_text()
    missing = [k for k in sorted(_known_keys()) if not re.search(rf"(^|[\s#{{]){k}:", text, re.M)]
    assert missing == []
    assert load(ROOT / "config" / "example.yaml").rules


def test_names_of_the_wrong_type_are_the_schemas_to_report(tmp_path: Path) -> None:
    text = (
        "channels:\n  1: 'json://127.0.0.1:9/x'\n  slack: 'json://127.0.0.1:9/y'\nnotify: [slak]\n"
    )
    with pytest.raises(ConfigError) as caught:  # one line each, never a TypeError
        parse(text, tmp_path / "w.yaml")
    assert any("unknown channel 'slak' (did you mean 'slack'?)" in p for p in caught.value.problems)
