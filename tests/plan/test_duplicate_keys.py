"""A key written twice in a plan file is reported with its name and both lines, not only TOML's
"cannot overwrite a value", through the CLI (`khz-tui validate` and the headless `--dry-run`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from khz_tui import cli

HEAD = 'schema_version = 1\nname = "dup"\n'


def _run(tmp_path: Path, capsys, text: str, *argv: str) -> tuple[int, str]:
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    code = cli.main([*argv, str(plan)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv", [["validate"], ["--dry-run"]])
def test_a_top_level_key_twice_is_named(tmp_path, capsys, argv) -> None:
    code, err = _run(tmp_path, capsys, HEAD + 'name = "again"\n', *argv)
    assert code == 2
    assert "name (line 3): this is not valid TOML: the key name is written twice (lines 2 and 3)" in err, err


def test_a_key_twice_in_a_table_is_named_with_its_table(tmp_path, capsys) -> None:
    code, err = _run(tmp_path, capsys, HEAD + "[ssh]\nport = 22\n# a comment\nport = 2222\n", "validate")
    assert code == 2
    assert "ssh.port (line 6)" in err and "the key ssh.port is written twice (lines 4 and 6)" in err, err


def test_a_key_twice_in_a_worker_pool_is_named_with_its_pool(tmp_path, capsys) -> None:
    text = HEAD + '[[worker_pools]]\nname = "a"\ncount = 1\n[[worker_pools]]\nname = "b"\ncount = 1\ncount = 2\n'
    code, err = _run(tmp_path, capsys, text, "validate")
    assert code == 2
    assert "worker_pools[1].count is written twice (lines 8 and 9)" in err, err


def test_a_dotted_key_that_overwrites_a_value_is_named(tmp_path, capsys) -> None:
    code, err = _run(tmp_path, capsys, HEAD + "ssh.port = 22\nssh.port = 23\n", "validate")
    assert code == 2
    assert "ssh.port is written twice (lines 3 and 4)" in err, err
