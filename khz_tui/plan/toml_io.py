"""Reading and writing plan files (TOML).

Reading: `tomllib`, then `validate_data`; every problem comes back at once with its key path and,
since tomllib keeps no positions, a line number found by scanning the text for the key.

Writing: every value except unset (None) ones is written, defaults included, so a saved plan keeps
its meaning even if a later khz-tui changes a default; `loads_plan(dumps_plan(p)) == p`. Worker pools
and volumes are written as `[[worker_pools]]` / `[[storage.volumes]]` tables, in the reference order.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import tomli_w

from khz_tui.plan.catalog import Catalog
from khz_tui.plan.checks import Problem, validate_data
from khz_tui.plan.model import ClusterPlan

HEADER = "# khz-tui cluster plan. Every key is described in docs/plan-reference.md.\n"


class PlanError(Exception):
    """A plan that cannot be used, with every problem found. `str(err)` is a readable report."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        """Multi-line text: which file, then one line per problem (errors first)."""
        errors = [p for p in self.problems if p.severity == "error"]
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        lines = [f"{self.source}: {count} to fix:"]
        ordered = sorted(self.problems, key=lambda p: (p.severity != "error", p.line or 0))
        lines += [f"  {p.describe()}" for p in ordered]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


# -- reading --------------------------------------------------------------------------------------


#: A plan is a few kilobytes (the 43-node example is under 2 KB); anything far larger is not a plan, and
#: reading it whole (say `/dev/zero`) would exhaust memory instead of saying so.
MAX_PLAN_BYTES = 1024 * 1024


def _read_bounded(path: Path) -> bytes:
    """At most MAX_PLAN_BYTES + 1 bytes of `path`, without blocking on a FIFO nobody writes to."""
    nonblock = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblock)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(path)
        if nonblock:
            os.set_blocking(fd, True)  # opened without waiting for a writer; now read normally
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_PLAN_BYTES:
            chunk = os.read(fd, MAX_PLAN_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_plan_text(path: Path) -> str:
    """The text of a plan file, or PlanError for a missing file, a directory, no permission, a file far
    too large to be a plan (or an endless one such as /dev/zero) or bad UTF-8."""
    source = str(path)
    try:
        raw = _read_bounded(Path(path))
    except FileNotFoundError:
        raise PlanError([Problem("", "there is no such file; check the path, or run khz-tui to make a plan")],
                        source) from None
    except IsADirectoryError:
        raise PlanError([Problem("", "this is a directory; give the path of a plan file (.toml)")], source) from None
    except PermissionError:
        raise PlanError([Problem("", "this file cannot be read (permission denied)")], source) from None
    except OSError as exc:
        raise PlanError([Problem("", f"this file cannot be read: {exc.strerror or exc}")], source) from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError([Problem("", f"this file is larger than {MAX_PLAN_BYTES // 1024} KB, far too large for a "
                                 "plan (a plan is a few KB of TOML); check the path")], source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _raise(Problem("", f"the file is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8", line),
               source)


def _raise(problem: Problem, source: str) -> NoReturn:
    raise PlanError([problem], source)


def parse_plan(text: str, source: str = "<plan>", catalog: Catalog | None = None) -> tuple[ClusterPlan, list[Problem]]:
    """Parse and validate plan text; return the plan and its warnings, or raise PlanError on any error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m[1]) if m else (text.count("\n") + 1 if "end of document" in msg else None)
        detail = msg[: m.start()].strip() if m else msg
        path, detail = _overwritten(text, line, detail)
        _raise(Problem(path, f"this is not valid TOML: {detail[:1].lower()}{detail[1:]}", line), source)
    plan, problems = validate_data(data, catalog, strict=True)
    lines = key_lines(text)  # one scan of the text serves every problem
    problems = [_with_line(p, text, lines) for p in problems]
    if plan is None:
        raise PlanError(problems, source)
    return plan, problems


def loads_plan(text: str, source: str = "<plan>", catalog: Catalog | None = None) -> ClusterPlan:
    """Parse and validate plan text. Raises PlanError listing ALL problems, with line numbers."""
    return parse_plan(text, source, catalog)[0]


def load_plan(path: Path, catalog: Catalog | None = None) -> ClusterPlan:
    """Read and validate a plan file. Every way it can fail raises PlanError."""
    return loads_plan(read_plan_text(path), str(path), catalog)


# -- finding lines --------------------------------------------------------------------------------

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_KEY = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?")


def _split_key(key: str) -> list[str]:
    parts = re.findall(_BARE_OR_QUOTED, key)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _overwritten(text: str, line: int | None, detail: str) -> tuple[str, str]:
    """(key path, message) for tomllib's "cannot overwrite a value", which names neither the key
    nor where it was first written; other errors come back unchanged with no path."""
    if line is None or "cannot overwrite" not in detail.lower():
        return "", detail
    here = [path for path, number in key_occurrences(text) if number == line]
    if not here:
        return "", detail
    path = max(here, key=len)  # `a.b.c = 1` lists a, a.b and a.b.c: the whole key is the one
    earlier = [number for other, number in key_occurrences(text) if other == path and number < line]
    if not earlier:
        return path, f"{detail} (the key {path})"
    return path, f"the key {path} is written twice (lines {earlier[0]} and {line}); keep one of them"


def key_lines(text: str) -> dict[str, int]:
    """Map each key path (`worker_pools[1].count`) written in `text` to its 1-based line (its first).

    A scan, not a parser: it follows `[table]` and `[[array]]` headers and `key =` lines, and skips
    multi-line strings. Paths inside inline tables or arrays are not listed; their key's line is.
    """
    lines: dict[str, int] = {}
    for path, number in key_occurrences(text):
        lines.setdefault(path, number)
    return lines


def key_occurrences(text: str) -> Iterator[tuple[str, int]]:
    """Every (key path, line) written in `text`, in order, repeats included (see `key_lines`)."""
    aot_counts: dict[str, int] = {}
    table = ""
    in_multiline: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in raw:
                in_multiline = None
            continue
        header = _HEADER.match(raw)
        if header:
            is_aot = header[1] == "[["
            parts = _split_key(header[2])
            table = ""
            for i, part in enumerate(parts):
                table = f"{table}.{part}" if table else part
                last = i == len(parts) - 1
                if last and is_aot:
                    aot_counts[table] = aot_counts.get(table, 0) + 1
                if table in aot_counts:
                    table += f"[{aot_counts[table] - 1}]"
            yield table, number
            continue
        key = _KEY.match(raw)
        if key:
            path = table
            for part in _split_key(key[1]):
                path = f"{path}.{part}" if path else part
                yield path, number
            rest = raw[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote


def find_line(text: str, path: str, lines: dict[str, int] | None = None) -> int | None:
    """The line of `path`, or of its nearest written parent; None when nothing of it is written."""
    lines = key_lines(text) if lines is None else lines
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]
    return None


def _with_line(problem: Problem, text: str, lines: dict[str, int]) -> Problem:
    if problem.line is not None or not problem.path:
        return problem
    line = find_line(text, problem.path, lines)
    return Problem(problem.path, problem.message, line, problem.severity)


# -- writing --------------------------------------------------------------------------------------


def _value(key: str, value: Any) -> str:
    """`key = value` for one entry; dicts become inline tables so they stay beside their key."""
    if isinstance(value, dict):
        inner = ", ".join(tomli_w.dumps({k: v}).strip() for k, v in value.items())
        name = tomli_w.dumps({key: 0}).split(" = ")[0]
        return f"{name} = {{ {inner} }}" if inner else f"{name} = {{}}"
    return tomli_w.dumps({key: value}).rstrip("\n")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _body(data: dict[str, Any]) -> list[str]:
    return [_value(k, v) for k, v in data.items() if not _is_table_list(v)]


def dumps_plan(plan: ClusterPlan) -> str:
    """The plan as TOML text: every value except unset ones, tables in the reference order."""
    data = plan.model_dump(mode="json", exclude_none=True)
    out = [HEADER.rstrip("\n")]
    out += [_value(k, v) for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)]
    for key, value in data.items():
        if _is_table_list(value):
            for item in value:
                out += ["", f"[[{key}]]", *_body(item)]
        elif isinstance(value, dict):
            out += ["", f"[{key}]", *_body(value)]
            for sub, items in value.items():
                if _is_table_list(items):
                    for item in items:
                        out += ["", f"[[{key}.{sub}]]", *_body(item)]
    return "\n".join(out) + "\n"


def save_plan(plan: ClusterPlan, path: Path) -> None:
    """Write the plan to `path` atomically (a crash never leaves half a plan behind)."""
    path = Path(path)
    text = dumps_plan(plan)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
