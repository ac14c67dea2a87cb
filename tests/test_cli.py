"""The CLI as scripts use it: JSON shapes, exit codes, clear errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bridge.cli import main


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://pos.example.com")
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result
    return invoke


ADD = ("connections", "add", "--vendor", "square", "--name", "Cafe", "--target", "xtarly",
       "--target-url", "http://127.0.0.1:8000/sandbox/xtarly", "--target-key", "xtarly_pos_demo")


def test_add_prints_the_contract_fields(run):
    made = json.loads(run(*ADD, "--signing-key", "sq-key-12345", "--json").output)
    assert {"id", "name", "vendor", "webhook_url", "target", "signing_key"} <= set(made)
    assert made["webhook_url"] == f"https://pos.example.com/hooks/{made['id']}"
    assert made["vendor"] == "square" and made["target"] == "xtarly"


def test_list_never_prints_a_secret(run):
    run(*ADD, "--signing-key", "sq-key-12345", "--vendor-token", "EAAAsecret-token")
    listed = run("connections", "list", "--json").output
    assert "sq-key-12345" not in listed and "xtarly_pos_demo" not in listed and "EAAAsecret-token" not in listed
    [connection] = json.loads(listed)
    assert connection["signing_key"] == "…2345" and connection["target_key"] == "…demo"


def test_square_without_a_signing_key_is_a_clear_error(run):
    result = run(*ADD, expect=2)
    assert "Square signs its webhooks: pass --signing-key" in result.output
    assert "Traceback" not in result.output


def test_unknown_setting_lists_the_known_ones(run):
    result = run(*ADD, "--signing-key", "k", "--set", "tips=yes", expect=2)
    assert "unknown setting tips" in result.output and "include_tips" in result.output


def test_bad_target_url_and_currency_are_clear(run):
    bad_url = list(ADD)
    bad_url[bad_url.index("--target-url") + 1] = "ftp://core"
    assert "must be http(s)" in run(*bad_url, "--signing-key", "k", expect=2).output
    assert "unknown currency" in run(*ADD, "--signing-key", "k", "--currency", "ZZZ", expect=2).output


def test_set_and_rotate(run):
    made = json.loads(run(*ADD, "--signing-key", "k1", "--json").output)
    run("connections", "set", made["id"], "include_tips=true")
    run("connections", "rotate-key", made["id"], "--signing-key", "k2")
    [connection] = json.loads(run("connections", "list", "--json").output)
    assert connection["settings"] == {"include_tips": "true"}
    assert connection["signing_keys"] == ["…", "…"]  # both kept, for in-flight retries
    assert "give one of" in run("connections", "rotate-key", made["id"], expect=2).output
    assert "no connection" in run("connections", "set", "con_nope", "a=b", expect=2).output


def test_events_list_filters_and_shows_json(run):
    assert json.loads(run("events", "list", "--status", "failed", "--json").output) == []
    assert run("events", "list", "--status", "lost", expect=2).exit_code == 2
    assert "no event 42" in run("events", "show", "42", expect=1).output


def test_send_fixture_names_the_known_fixtures(run):
    made = json.loads(run(*ADD, "--signing-key", "k1", "--json").output)
    result = run("send-fixture", "square", "nope", "--connection", made["id"], expect=2)
    assert "payment.updated.completed" in result.output


def test_db_upgrade(run):
    assert "up to date" in run("db", "upgrade").output


def test_replay_commands(run, tmp_path):

    made = json.loads(run(*ADD, "--signing-key", "k1", "--json").output)
    assert "give event ids, or at least one filter" in run("events", "replay", expect=2).output
    assert "0 event(s) match" in run("events", "replay", "--status", "failed", "--dry-run").output
    assert "purged (BRIDGE_RETENTION): 41" in run("events", "replay", "41", expect=1).output
    assert "give event ids or filters" in run("events", "replay", "1", "--status", "failed", expect=2).output
    assert "bad_filter" not in run("events", "list", "--email", "a@b.c", "--since", "2026-01-01", "--json").output
    assert "ISO 8601" in run("events", "list", "--since", "soon", expect=2).output
    assert json.loads(run("replays", "list", "--json").output) == []
    assert "no replay job 9" in run("replays", "cancel", "9", expect=1).output
    assert made["id"]
