"""A small POSIX-shell subset: enough to run what an installer sends over SSH, with nothing guessed.

Supported: single/double quotes, backslash escapes, `$NAME`/`${NAME}`/`$?` expansion (no field
splitting), `NAME=value cmd` and `export NAME=value`, pipes, `&&`, `||`, `;`, newlines, comments,
redirects `>`, `>>`, `2>`, `2>>`, `2>&1`, `>&2`, `<`. Anything else that a real shell would treat
specially (command substitution, subshells, background jobs, here-documents) is a syntax error with
exit 2, so a caller relying on it notices instead of getting a silently different result.
Pipelines run stage by stage with buffered output: every accepted command is finite, so the
result is the same as running them concurrently.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from khz_tui.sim.nodes.filesystem import FsError, normalize
from khz_tui.sim.nodes.machine import Machine


class ShellSyntaxError(Exception):
    """The script uses syntax outside the supported subset."""


# A word is a list of (text, expand) segments; `expand` marks text where `$NAME` is substituted.
Word = list[tuple[str, bool]]


@dataclass
class Redirect:
    """`fd` (1 or 2) goes to a file (`target`), or to another descriptor (`dup`)."""

    fd: int
    target: Word | None = None
    append: bool = False
    dup: int | None = None
    read: bool = False


@dataclass
class SimpleCommand:
    """Assignments, words and redirects of one command."""

    assignments: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    """Commands joined by `|`."""

    commands: list[SimpleCommand]


# A script is a list of (connector, pipeline); the connector says when the pipeline runs:
# ";" always, "&&" after success, "||" after failure.
Script = list[tuple[str, Pipeline]]

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\?))")


def _tokenize(text: str) -> list[Any]:
    """Split into words (lists of segments) and operator strings."""
    tokens: list[Any] = []
    word: Word = []
    in_word = False
    i, n = 0, len(text)

    def end_word() -> None:
        nonlocal word, in_word
        if in_word:
            tokens.append(word)
        word, in_word = [], False

    while i < n:
        c = text[i]
        if c in " \t":
            end_word()
            i += 1
        elif c == "\n":
            end_word()
            tokens.append(";")
            i += 1
        elif c == "#" and not in_word:
            while i < n and text[i] != "\n":
                i += 1
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated quoted string")
            word.append((text[i + 1:j], False))
            in_word = True
            i = j + 1
        elif c == '"':
            i += 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise ShellSyntaxError("unterminated quoted string")
                d = text[i]
                if d == '"':
                    break
                if d == "\\" and i + 1 < n and text[i + 1] in '"\\$`\n':
                    if text[i + 1] != "\n":
                        # Escaped '$' must not be expanded later: emit it as a literal segment.
                        if buf:
                            word.append(("".join(buf), True))
                            buf = []
                        word.append((text[i + 1], False))
                    i += 2
                    continue
                if d == "`" or (d == "$" and text[i + 1:i + 2] == "("):
                    raise ShellSyntaxError("command substitution is not supported")
                buf.append(d)
                i += 1
            word.append(("".join(buf), True))
            in_word = True
            i += 1
        elif c == "\\":
            if i + 1 < n and text[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < n:
                word.append((text[i + 1], False))
                in_word = True
            i += 2
        elif c in "|&;<>()`" or (c == "$" and text[i + 1:i + 2] == "("):
            if c == "`" or c == "$":
                raise ShellSyntaxError("command substitution is not supported")
            if c in "()":
                raise ShellSyntaxError(f"syntax error near unexpected token `{c}'")
            # A lone digit before '>' names the descriptor ("2>").
            fd = None
            if in_word and len(word) == 1 and word[0][1] and word[0][0] in ("1", "2") and c == ">":
                fd = int(word[0][0])
                word, in_word = [], False
            end_word()
            two = text[i:i + 2]
            if two in ("&&", "||", ">>"):
                op, i = two, i + 2
            elif c == "&" and text[i + 1:i + 2] == ">":
                raise ShellSyntaxError("`&>' redirection is not supported")
            elif c == "&":
                raise ShellSyntaxError("background jobs are not supported")
            elif two == "<<":
                raise ShellSyntaxError("here-documents are not supported")
            else:
                op, i = c, i + 1
            if op in (">", ">>") and text[i:i + 1] == "&":
                m = re.match(r"&([12])", text[i:])
                if not m:
                    raise ShellSyntaxError("bad descriptor duplication")
                i += 2
                tokens.append(("dup", fd or 1, int(m.group(1))))
                continue
            if op in (">", ">>"):
                tokens.append(("redir", fd or 1, op == ">>"))
            elif op == "<":
                tokens.append(("read",))
            else:
                tokens.append(op)
        else:
            j = i
            while j < n and text[j] not in " \t\n'\"\\|&;<>()`":
                if text[j] == "$" and text[j + 1:j + 2] == "(":
                    raise ShellSyntaxError("command substitution is not supported")
                j += 1
            word.append((text[i:j], True))
            in_word = True
            i = j
    end_word()
    return tokens


def parse(text: str) -> Script:
    """Parse a script into pipelines and connectors, or raise ShellSyntaxError."""
    tokens = _tokenize(text)
    script: Script = []
    connector = ";"
    commands: list[SimpleCommand] = []
    cmd = SimpleCommand()
    k = 0

    def finish_command() -> None:
        nonlocal cmd
        if not cmd.words and not cmd.assignments and not cmd.redirects:
            raise ShellSyntaxError("syntax error: missing command")
        commands.append(cmd)
        cmd = SimpleCommand()

    while k < len(tokens):
        t = tokens[k]
        if isinstance(t, list):
            first = t[0]
            m = _ASSIGNMENT.match(first[0]) if first[1] else None
            if m and not cmd.words:
                rest: Word = [(first[0][m.end():], True)] + t[1:]
                cmd.assignments.append((m.group(1), rest))
            else:
                cmd.words.append(t)
        elif isinstance(t, tuple):
            if t[0] == "dup":
                cmd.redirects.append(Redirect(fd=t[1], dup=t[2]))
            else:
                k += 1
                if k >= len(tokens) or not isinstance(tokens[k], list):
                    raise ShellSyntaxError("syntax error: redirect without a file name")
                if t[0] == "read":
                    cmd.redirects.append(Redirect(fd=0, target=tokens[k], read=True))
                else:
                    cmd.redirects.append(Redirect(fd=t[1], target=tokens[k], append=t[2]))
        elif t == "|":
            finish_command()
        elif t in ("&&", "||", ";"):
            if t == ";" and not commands and not (cmd.words or cmd.assignments or cmd.redirects):
                k += 1  # empty statements (blank lines) are fine after ';'
                continue
            finish_command()
            script.append((connector, Pipeline(commands)))
            commands = []
            connector = t
        k += 1
    if cmd.words or cmd.assignments or cmd.redirects:
        finish_command()
    elif commands:
        raise ShellSyntaxError("syntax error: unexpected end of file after `|'")
    if commands:
        script.append((connector, Pipeline(commands)))
    elif connector in ("&&", "||", "|"):
        raise ShellSyntaxError(f"syntax error: unexpected end of file after `{connector}'")
    return script


def expand(word: Word, env: dict[str, str], status: int) -> str:
    """Substitute variables in a word (unset variables become empty, as in sh)."""
    out = []
    for text, do_expand in word:
        if not do_expand:
            out.append(text)
            continue

        def sub(m: re.Match[str]) -> str:
            if m.group(3):
                return str(status)
            return env.get(m.group(1) or m.group(2), "")

        out.append(_VAR.sub(sub, text))
    return "".join(out)


class Output:
    """Where a command writes: the SSH channel, a buffer, a file or nowhere."""

    async def write(self, data: bytes) -> None:
        """Append bytes to this output."""
        raise NotImplementedError


class BufferOutput(Output):
    """Collects output in memory (pipeline stages, nested scripts)."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data


class NullOutput(Output):
    """/dev/null."""

    async def write(self, data: bytes) -> None:
        return None


class FileOutput(Output):
    """A file on the node, truncated (`>`) when opened or appended to (`>>`)."""

    def __init__(self, fs: Any, path: str, append: bool) -> None:
        self.fs = fs
        self.path = path
        fs.write(path, b"", append=append)

    async def write(self, data: bytes) -> None:
        self.fs.write(self.path, data, append=True)


class CallbackOutput(Output):
    """Forwards every write to an async callback (the SSH channel)."""

    def __init__(self, callback: Callable[[bytes], Awaitable[None]]) -> None:
        self.callback = callback

    async def write(self, data: bytes) -> None:
        await self.callback(data)


class Input:
    """A command's standard input, read whole on demand (lazily, so unread stdin never blocks)."""

    def __init__(self, data: bytes | None = None,
                 reader: Callable[[], Awaitable[bytes]] | None = None) -> None:
        self._data = data
        self._reader = reader

    async def read(self) -> bytes:
        """Everything until end of input."""
        if self._data is None:
            self._data = await self._reader() if self._reader else b""
        return self._data


@dataclass
class Invocation:
    """Everything a command sees when it runs."""

    argv: list[str]
    env: dict[str, str]
    stdin: Input
    stdout: Output
    stderr: Output
    shell: Shell
    node: Machine

    async def out(self, text: str | bytes) -> None:
        """Write to standard output."""
        await self.stdout.write(text.encode() if isinstance(text, str) else text)

    async def err(self, text: str | bytes) -> None:
        """Write to standard error."""
        await self.stderr.write(text.encode() if isinstance(text, str) else text)


Command = Callable[[Invocation], Awaitable[int]]


class Shell:
    """Runs scripts against one node: `lookup(name, node)` finds an accepted command or None."""

    max_statements = 10_000
    """Bound on pipelines run by one script, so nothing loops unnoticed."""

    def __init__(self, node: Machine, lookup: Callable[[str, Machine], Command | None]) -> None:
        self.node = node
        self.lookup = lookup
        self.env: dict[str, str] = {
            "HOME": "/root", "USER": "root", "SHELL": "/bin/sh",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        }
        self.status = 0

    async def run(self, text: str, stdin: Input, stdout: Output, stderr: Output) -> int:
        """Parse and run a script; syntax errors exit 2 with a message on stderr."""
        try:
            script = parse(text)
        except ShellSyntaxError as exc:
            await stderr.write(f"sh: 1: {exc}\n".encode())
            self.status = 2
            return 2
        for count, (connector, pipeline) in enumerate(script):
            if count >= self.max_statements:
                await stderr.write(b"sh: too many statements\n")
                return 2
            if connector == "&&" and self.status != 0:
                continue
            if connector == "||" and self.status == 0:
                continue
            self.status = await self._run_pipeline(pipeline, stdin, stdout, stderr)
            # Only the first pipeline that reads stdin consumes it, as a real shell would.
        return self.status

    async def _run_pipeline(self, pipeline: Pipeline, stdin: Input, stdout: Output,
                            stderr: Output) -> int:
        status = 0
        feed = stdin
        for index, cmd in enumerate(pipeline.commands):
            last = index == len(pipeline.commands) - 1
            out: Output = stdout if last else BufferOutput()
            status = await self._run_command(cmd, feed, out, stderr)
            if not last:
                feed = Input(bytes(out.data))  # type: ignore[attr-defined]
        return status

    async def _run_command(self, cmd: SimpleCommand, stdin: Input, stdout: Output,
                           stderr: Output) -> int:
        fs = self.node.fs
        env = dict(self.env)
        for name, value in cmd.assignments:
            env[name] = expand(value, self.env, self.status)
        # Like sh, `A=1 echo $A` expands with the shell's variables, not the command's assignments.
        argv = [expand(w, self.env, self.status) for w in cmd.words]
        streams: dict[int, Input | Output] = {0: stdin, 1: stdout, 2: stderr}
        try:
            for r in cmd.redirects:
                if r.dup is not None:
                    streams[r.fd] = streams[r.dup]
                    continue
                path = expand(r.target or [], self.env, self.status)
                if r.read:
                    streams[0] = Input(b"" if path == "/dev/null" else fs.read(path))
                elif path == "/dev/null":
                    streams[r.fd] = NullOutput()
                elif path in ("/dev/stderr", "/dev/stdout"):
                    streams[r.fd] = streams[2 if path == "/dev/stderr" else 1]
                else:
                    streams[r.fd] = FileOutput(fs, normalize(path), r.append)
        except FsError as exc:
            await stderr.write(f"sh: 1: cannot open {exc.path}: {exc.reason}\n".encode())
            return 2
        if not argv:
            # Bare assignments change the shell's own variables.
            self.env.update({k: v for k, v in env.items()})
            return 0
        name = argv[0]
        if name == "export":
            for arg in argv[1:]:
                key, sep, exported = arg.partition("=")
                if sep:
                    self.env[key] = exported
            return 0
        given_in, given_out, given_err = streams[0], streams[1], streams[2]
        if not isinstance(given_in, Input) or not isinstance(given_out, Output) or not isinstance(given_err, Output):
            await stderr.write(b"sh: 1: Bad fd number\n")  # a stream redirected the wrong way round
            return 2
        command = self.lookup(name, self.node)
        if command is None:
            await given_err.write(f"sh: 1: {name}: not found\n".encode())
            return 127
        inv = Invocation(argv=argv, env=env, stdin=given_in, stdout=given_out, stderr=given_err, shell=self, node=self.node)
        return await command(inv)
