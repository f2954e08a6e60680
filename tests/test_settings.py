"""One source of truth for settings: the registry in feedsvc/config.py, the README's configuration
table and deploy/feedsvc.env.sample name the same FEEDSVC_* variables, the code reads no other, and an
unknown name or a bad value stops the app with a message that names it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from feedsvc import config, envfile
from feedsvc.config import SETTINGS, ConfigError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLE = ROOT / "deploy" / "feedsvc.env.sample"
REGISTERED = {s.env for s in SETTINGS}
# A whole name: a trailing "_" is a prefix or a wildcard (FEEDSVC_WEBSUB_*), not a setting.
NAME = re.compile(r"FEEDSVC_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])(?!_?\*)")


def readme_table_names() -> list[str]:
    """The first column of every row of the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `FEEDSVC_")]
    names = [re.match(r"\| `(FEEDSVC_[A-Z0-9_]+)` \|", row) for row in rows]
    assert all(names), [row for row, m in zip(rows, names, strict=True) if not m]  # one name a row
    return [m.group(1) for m in names if m]


def sample_names() -> list[str]:
    """Every FEEDSVC_ assignment of the env sample, commented out (a default) or not."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"#?(FEEDSVC_[A-Z0-9_]+)=", line))]


def test_registry_readme_table_and_env_sample_name_the_same_settings() -> None:
    table, sample = readme_table_names(), sample_names()
    assert len(table) == len(set(table)), "a setting appears twice in the README table"
    assert len(sample) == len(set(sample)), "a setting appears twice in deploy/feedsvc.env.sample"
    undocumented = {
        "README table": sorted(REGISTERED - set(table)),
        "deploy/feedsvc.env.sample": sorted(REGISTERED - set(sample)),
    }
    unknown = {
        "README table": sorted(set(table) - REGISTERED),
        "env sample": sorted(set(sample) - REGISTERED),
    }
    assert not any(undocumented.values()), f"settings missing from the docs: {undocumented}"
    assert not any(unknown.values()), f"documented names that no setting has: {unknown}"
    assert len(REGISTERED) == len(SETTINGS) >= 60


def test_the_code_and_docs_name_no_setting_outside_the_registry() -> None:
    """A setting read or mentioned anywhere (code, deploy files, docs, benches) is a registered one;
    a variable read straight from the environment would escape the unknown-name check."""
    files = [
        *sorted((ROOT / "feedsvc").rglob("*.py")),
        *sorted((ROOT / "bench").glob("*.py")),
        *sorted((ROOT / "deploy").iterdir()),
        ROOT / "wsgi.py",
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        ROOT / "Makefile",
        ROOT / ".ci" / "run",
    ]
    found: dict[str, set[str]] = {}
    for path in files:
        if path.is_file():
            for name in NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    stray = {name: sorted(where) for name, where in found.items() if name not in REGISTERED}
    assert not stray, f"FEEDSVC_ names that no setting has: {stray}"
    assert {"FEEDSVC_PURGE_URL", "FEEDSVC_DATABASE_URL", "FEEDSVC_APP_DIR"} <= set(found)
    # Inside the package only the registry reads the environment.
    direct = re.compile(r"""(environ(\.get)?|getenv)\s*[\(\[]\s*["']FEEDSVC_""")
    readers = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "feedsvc").rglob("*.py")
        if p.name != "config.py" and direct.search(p.read_text(encoding="utf-8"))
    ]
    assert readers == []


def test_the_name_pattern_sees_names_and_skips_prefixes() -> None:
    text = 'FEEDSVC_PURGE_URL, `FEEDSVC_WEBSUB_*`, f"FEEDSVC_{key}", FEEDSVC_ALLOW_NETWORKS=1'
    assert NAME.findall(text) == ["FEEDSVC_PURGE_URL", "FEEDSVC_ALLOW_NETWORKS"]


def test_sample_defaults_are_the_registry_defaults_and_every_value_parses() -> None:
    """Uncommented, every line of the sample parses; the commented ones show the real defaults."""
    text = SAMPLE.read_text(encoding="utf-8")
    values = envfile.parse(text, str(SAMPLE))
    for name, raw in values.items():
        if name in config.BY_ENV:
            config.read(config.BY_ENV[name], {name: raw})  # raises ConfigError if it does not parse
    shown = envfile.parse(re.sub(r"(?m)^#(FEEDSVC_)", r"\1", text), str(SAMPLE))
    wrong = {}
    for setting in SETTINGS:
        raw = shown[setting.env]
        if setting.env in values or raw == "":
            continue
        if config.read(setting, {setting.env: raw}) != setting.default:
            wrong[setting.env] = (raw, setting.default)
    assert not wrong, f"the sample's commented defaults differ from the registry: {wrong}"
    # The values a production install needs for a fresh front are set, not left to defaults.
    assert values["FEEDSVC_PURGE_URL"] and values["FEEDSVC_PURGE_METHOD"] == "REFRESH"


@pytest.fixture
def clean_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_app_factory_refuses_an_unknown_name_naming_the_closest(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_PURGE_URLS", "http://127.0.0.1{path}")
    monkeypatch.setenv("FEEDSVC_DB_STATEMENT_TIMOUT", "2")
    with pytest.raises(ConfigError) as caught:
        app_factory()
    message = str(caught.value)
    assert "FEEDSVC_DB_STATEMENT_TIMOUT (did you mean FEEDSVC_DB_STATEMENT_TIMEOUT?)" in message
    assert "unknown setting FEEDSVC_PURGE_URLS (did you mean FEEDSVC_PURGE_URL?)" in message
    monkeypatch.delenv("FEEDSVC_PURGE_URLS")
    monkeypatch.delenv("FEEDSVC_DB_STATEMENT_TIMOUT")
    monkeypatch.setenv("NOT_FEEDSVC_PURGE_URLS", "x")  # other prefixes are not ours to judge
    monkeypatch.setenv("FEEDSVC_PURGE_METHOD", "REFRESH")
    assert app_factory().config["PURGE_METHOD"] == "REFRESH"


def test_a_name_far_from_any_still_gets_the_closest() -> None:
    [(name, best)] = config.unknown_names({"FEEDSVC_ZZZZZZZZZZ": "1"})
    assert name == "FEEDSVC_ZZZZZZZZZZ" and best in config.BY_ENV


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("FEEDSVC_FEED_MAX_AGE", "five", "FEEDSVC_FEED_MAX_AGE='five': expected an integer"),
        ("FEEDSVC_DB_POLL_TIMEOUT", "0,3", "FEEDSVC_DB_POLL_TIMEOUT='0,3': expected a number"),
        ("FEEDSVC_WEBSUB_HUB", "maybe", "FEEDSVC_WEBSUB_HUB='maybe': expected 1/0"),
        ("FEEDSVC_FETCH_ALLOW_NETWORKS", "10.0.0.0/8,10.300.0.0/16", "FEEDSVC_FETCH_ALLOW_NETWORKS="),
    ],
)
def test_a_value_that_does_not_parse_is_refused_naming_the_variable(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, name: str, raw: str, expected: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        app_factory()


def test_every_setting_reaches_the_app_config(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each app setting set in the environment lands under its config key, parsed."""
    examples = {int: "7", float: "2.5", str: "text", config.flag: "off", config.csv: "a, b"}
    special = {
        "FEEDSVC_FETCH_ALLOW_NETWORKS": ("10.20.0.0/16", ("10.20.0.0/16",)),
        "FEEDSVC_WEBSUB_HUBS": ("https://hub.example/", ("https://hub.example/",)),
    }
    skip = {  # checked or derived by finalize(), or by the fixture's own values
        "FEEDSVC_DATABASE_URL", "FEEDSVC_CACHE_URL", "FEEDSVC_BASE_URL", "FEEDSVC_LANGUAGES",
        "FEEDSVC_SITE_NAME", "FEEDSVC_TIMEZONE", "FEEDSVC_FEED_ICON_URL", "FEEDSVC_FEED_LOGO_URL",
        "FEEDSVC_FAVICON_URL", "FEEDSVC_FEED_IMAGE_SIZE", "FEEDSVC_NEWS_PUBLICATION_NAME",
        "FEEDSVC_LOG_FORMAT", "FEEDSVC_LOG_LEVEL", "FEEDSVC_REDIS_TIMEOUT", "FEEDSVC_EMBED_HOSTS",
        "FEEDSVC_WEBSUB_LEASE_MIN", "FEEDSVC_WEBSUB_LEASE_MAX", "FEEDSVC_WEBSUB_LEASE_DEFAULT",
    }  # fmt: skip
    expected = {}
    for s in SETTINGS:
        if not s.app or s.env in skip:
            continue
        raw, value = special[s.env] if s.env in special else (examples[s.parse], None)
        monkeypatch.setenv(s.env, raw)
        expected[s.config_key] = value if value is not None else s.parse(raw)
    app = app_factory()
    got = {key: app.config[key] for key in expected}
    assert got == expected
    assert len(expected) >= 40


# -- env files in systemd's EnvironmentFile format ---------------------------------------------------


def test_env_file_parse_follows_systemd_rules() -> None:
    text = (
        "# comment\n"
        "; also a comment\n"
        "\n"
        "  PLAIN = value with  inner  spaces   \n"
        "HASH=a # not a comment in systemd\n"
        "SINGLE='  kept $HOME \\n verbatim  '\n"
        'DOUBLE="say \\"hi\\" \\\\ \\$x \\q"\n'
        "CONT=first\\\n"
        "second\n"
        "ESC=a\\ b\\\\c\n"
        'MULTI="line one\n'
        'line two"\n'
        "INNER=a'b'\n"
        "EMPTY=\n"
        "PLAIN=later wins\n"
    )
    assert envfile.parse(text) == {
        "PLAIN": "later wins",
        "HASH": "a # not a comment in systemd",
        "SINGLE": "  kept $HOME \\n verbatim  ",
        "DOUBLE": 'say "hi" \\ $x \\q',
        "CONT": "firstsecond",
        "ESC": "a b\\c",
        "MULTI": "line one\nline two",
        "INNER": "a'b'",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("export FEEDSVC_BASE_URL=https://x\n", "line 1: 'export FEEDSVC_BASE_URL' is not a variable name"),
        ("A=1\nJUST_A_WORD\n", "line 2: expected NAME=value"),
        ('A=1\n\nB="open\n', "line 3: unterminated \"-quoted value"),
        ("A='x' y\n", "text after the closing '"),
    ],
)
def test_env_file_lines_systemd_would_skip_are_refused(text: str, message: str) -> None:
    with pytest.raises(envfile.EnvFileError, match=re.escape(message)):
        envfile.parse(text, "f.env")


def test_env_file_load_keeps_variables_set_already(tmp_path: Path, clean_environ: None) -> None:
    path = tmp_path / "feedsvc.env"
    path.write_text("FEEDSVC_SITE_NAME=From File\nFEEDSVC_FEED_MAX_AGE=60\n", encoding="utf-8")
    os.environ["FEEDSVC_FEED_MAX_AGE"] = "120"
    os.environ.pop("FEEDSVC_SITE_NAME", None)
    assert envfile.load(path) == {"FEEDSVC_SITE_NAME": "From File"}
    assert os.environ["FEEDSVC_SITE_NAME"] == "From File" and os.environ["FEEDSVC_FEED_MAX_AGE"] == "120"


def test_the_units_read_the_env_file_the_cli_reads() -> None:
    """The units name /etc/feedsvc/feedsvc.env, whose format the CLI parses; the sample says so."""
    for unit in sorted((ROOT / "deploy").glob("*.service")):
        text = unit.read_text(encoding="utf-8")
        assert re.search(r"(?m)^EnvironmentFile=-?/etc/feedsvc/feedsvc\.env$", text), unit.name
    from feedsvc.cli import SYSTEM_ENV_FILE

    assert str(SYSTEM_ENV_FILE) == "/etc/feedsvc/feedsvc.env"
    assert "EnvironmentFile" in SAMPLE.read_text(encoding="utf-8")


def test_the_units_env_file_through_systemd_itself_when_available(tmp_path: Path) -> None:
    """Where systemd can run a transient unit, it reads the sample exactly as the CLI does."""
    import shutil

    run = shutil.which("systemd-run")
    if run is None or not Path("/run/systemd/system").is_dir():
        pytest.skip("systemd is not running here")
    out = subprocess.run(
        [run, "--quiet", "--wait", "--pipe", f"--property=EnvironmentFile={SAMPLE}", "/usr/bin/env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    seen = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    expected = envfile.parse(SAMPLE.read_text(encoding="utf-8"))
    assert {k: seen.get(k) for k in expected} == expected


# -- the console script and gunicorn (slow: real processes) ------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    return {**env, **extra}


@pytest.mark.slow
def test_every_feedsvc_command_refuses_an_unknown_name(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("feedsvc")
    env = _env(
        FEEDSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", FEEDSVC_ALLOW_NETWORKS="10.0.0.0/8"
    )
    for args in (["init-db"], ["status"], ["worker", "--passes", "1"], ["routes"]):
        done = subprocess.run(
            [exe, *args], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        expected = "unknown setting FEEDSVC_ALLOW_NETWORKS (did you mean FEEDSVC_FETCH_ALLOW_NETWORKS?)"
        assert f"Error: {expected}" in done.stderr, args
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()  # nothing ran
    helped = subprocess.run(
        [exe, "--help"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert f"Error: {expected}" in helped.stderr and "Traceback" not in helped.stderr
    assert "--env-file FILE" in helped.stdout


@pytest.mark.slow
def test_gunicorn_refuses_to_start_with_an_unknown_name(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = _env(
        FEEDSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        FEEDSVC_PURGE_METOD="REFRESH",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    done = subprocess.run(
        [gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode != 0
    assert "unknown setting FEEDSVC_PURGE_METOD (did you mean FEEDSVC_PURGE_METHOD?)" in done.stderr
