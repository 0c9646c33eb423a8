"""The node shell: quoting, variables, pipes, connectors, redirects, and refusing the unknown."""

from __future__ import annotations

import pytest

from khz_tui.sim.nodes.shell import ShellSyntaxError, parse


async def run(world, sid, command, **kwargs):
    async with await world.connect(sid) as conn:
        return await conn.run(command, **kwargs)


async def test_quoting_env_pipes_and_connectors(world):
    spec = await world.create("cp-1")
    sid = spec.server_id
    assert (await run(world, sid, "echo 'a  b' \"c $HOME\" d\\ e")).stdout == "a  b c /root d e\n"
    assert (await run(world, sid, "export X=1; echo \"x=$X\" '$X'")).stdout == "x=1 $X\n"
    assert (await run(world, sid, "false && echo no; false || echo yes; true && echo also")).stdout \
        == "yes\nalso\n"
    assert (await run(world, sid, "echo hello | base64 | base64 -d")).stdout == "hello\n"
    result = await run(world, sid, "echo one > /tmp/f && echo two >> /tmp/f && cat /tmp/f; echo $?")
    assert result.stdout == "one\ntwo\n0\n"
    result = await run(world, sid, "cat /missing 2>&1; echo code=$?")
    assert result.stdout == "cat: /missing: No such file or directory\ncode=1\n"
    assert (await run(world, sid, "sh -c 'echo inner; exit_not_a_cmd' ; echo $?")).stdout.endswith("127\n")


async def test_unknown_command_exits_127(world):
    spec = await world.create("cp-1")
    result = await run(world, spec.server_id, "apt-get install -y jq")
    assert result.exit_status == 127
    assert result.stderr == "sh: 1: apt-get: not found\n"
    result = await run(world, spec.server_id, "k3s --version")
    assert result.exit_status == 127, "k3s exists only once installed"


async def test_unsupported_syntax_is_an_error(world):
    spec = await world.create("cp-1")
    result = await run(world, spec.server_id, "echo $(hostname)")
    assert result.exit_status == 2
    assert "not supported" in result.stderr


async def test_usage_errors_are_not_ignored(world):
    spec = await world.create("cp-1")
    result = await run(world, spec.server_id, "uname --all-the-things")
    assert result.exit_status == 2


@pytest.mark.parametrize("text", ["echo 'open", "echo a &&", "echo a | ", "(echo a)", "echo a &", "cat <<EOF"])
def test_parse_rejects(text):
    with pytest.raises(ShellSyntaxError):
        parse(text)


def test_parse_assignments_and_redirects():
    script = parse("A=1 B='x y' cmd arg >out 2>&1; other")
    assert len(script) == 2
    cmd = script[0][1].commands[0]
    assert [name for name, _ in cmd.assignments] == ["A", "B"]
    assert len(cmd.words) == 2
    assert [(r.fd, r.dup) for r in cmd.redirects] == [(1, None), (2, 1)]
