"""Bad input fuzzing: hypothesis-made TOML (random keys, types, nesting, arrays of tables, huge numbers,
unicode, empty strings, a wrong type at every known key), garbage that is not TOML, binary and empty
files, directories, endless devices. Fed to `khz-tui validate` and `khz-tui --apply` through
`khz_tui.cli.main` in-process (output captured) and, for a few, through a real subprocess.

Every case must end with exit 2 and a message naming the problem (exit 0 only for the rare valid plan in
`validate`), never a traceback, never a hang. `--apply` runs with a token variable that is unset and an
endpoint on a closed loopback port, so even a valid plan stops at "no token" (exit 2) without touching
any network. Examples per test: `FUZZ_EXAMPLES` in CI, many more with KHZ_SOAK=1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_support import known_key_paths

from khz_tui import cli
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import MAX_PLAN_BYTES

SOAK = os.environ.get("KHZ_SOAK") == "1"
FUZZ_EXAMPLES = 2000 if SOAK else 120
NO_TOKEN_VAR = "KHZ_FUZZ_TOKEN_THAT_IS_NEVER_SET"
CLOSED_ENDPOINT = "http://127.0.0.1:9/v1"  # discard port: nothing listens; never reached anyway

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # wall-clock per example varies under `-n 2`; a call that hangs fails the test at its timeout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not SOAK,  # CI sees the same examples every run; the soak explores
)

# -- strategies -----------------------------------------------------------------------------------

_keys = st.one_of(
    st.text(min_size=0, max_size=12),  # any unicode, empty included (TOML quotes it)
    st.sampled_from(["name", "count", "server_type", "labels", "pool", "token", "api_key", "secret_thing",
                     "worker_pools", "volumes", "location", "x" * 200]),
)
_scalars = st.one_of(
    st.integers(),  # unbounded: TOML takes 64-bit, tomllib reads bigger ones too
    st.sampled_from([0, -1, 2**63 - 1, -(2**63), 10**40, 65536, 3, 5, 101]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=40),
    st.sampled_from(["", " ", "cp", "default", "fsn1", "cpx22", "10.0.0.0/8", "0.0.0.0/0", "::/0", "a" * 300,
                     "\u202e\u0000x", "é😀", "${HOME}", "../../etc/passwd", "~/.ssh/id_ed25519"]),
    st.dates(),
    st.datetimes(),
    st.times(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
        st.lists(st.dictionaries(_keys, inner, max_size=3), min_size=1, max_size=3),  # arrays of tables
    ),
    max_leaves=12,
)
_tables = st.dictionaries(_keys, _values, max_size=6)


def _base_plan() -> dict[str, Any]:
    """A full, valid plan as plain data: the starting point every mutation bends."""
    plan = ClusterPlan.model_validate({
        "name": "fuzz",
        "worker_pools": [{"name": "default", "count": 2, "labels": {"tier": "web"}, "taints": ["a=b:NoSchedule"],
                          "autoscaling": {"min": 1, "max": 3}}],
        "storage": {"volumes": [{"name": "data", "pool": "default"}]},
    })
    return plan.model_dump(mode="json", exclude_none=True)


KNOWN_PATHS = known_key_paths(_base_plan())


def _set(data: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for part in path[:-1]:
        data = data[part]
    if delete:
        del data[path[-1]]
    else:
        data[path[-1]] = value


@st.composite
def mutated_plans(draw) -> dict[str, Any]:
    """The valid plan with a few known keys given a wrong value or dropped, and random keys added."""
    data = _base_plan()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(KNOWN_PATHS))
        try:
            if draw(st.integers(0, 5)) == 0:
                _set(data, path, None, delete=True)
            else:
                _set(data, path, draw(_values))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the parent
    if draw(st.booleans()):
        data.update(draw(_tables))
    return data


@st.composite
def toml_texts(draw) -> str:
    """TOML text: a mutated plan, or a random document, sometimes then cut or spliced with junk."""
    data = draw(st.one_of(mutated_plans(), _tables))
    text = tomli_w.dumps(data)
    how = draw(st.integers(0, 5))
    if how == 0 and text:
        text = text[: draw(st.integers(0, len(text)))]
    elif how == 1:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=20)) + text[at:]
    return text


# -- running khz-tui ------------------------------------------------------------------------------


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token anywhere (conftest already moved HOME and XDG into tmp_path and dropped HCLOUD_*):
    an --apply of a valid plan can only stop at "no token"."""
    monkeypatch.setenv("HCLOUD_CONFIG", str(tmp_path / "no-such-cli.toml"))
    monkeypatch.delenv(NO_TOKEN_VAR, raising=False)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`khz_tui.cli.main(argv)` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def apply_argv(path: Path) -> list[str]:
    return ["--apply", str(path), "--token-env", NO_TOKEN_VAR, "--endpoint", CLOSED_ENDPOINT, "--yes"]


def assert_refused_cleanly(code: int, out: str, err: str, *, may_be_valid: bool) -> None:
    text = out + err
    assert "Traceback" not in text, text[-2000:]
    if may_be_valid and code == 0:
        assert "the plan is valid" in out
        return
    assert code == 2, (code, text[-2000:])
    assert err.strip(), "exit 2 must come with a message"
    # A plan problem names the file and lists what to fix; a usable plan with no token says so.
    assert "to fix:" in err or "no Hetzner Cloud API token" in err, err[-2000:]


def _write(data: str | bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix="khz-fuzz-", suffix=".toml")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(name)


# -- the properties -------------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(text=toml_texts())
def test_validate_never_crashes_on_generated_toml(quiet_env, text: str) -> None:
    path = _write(text)
    try:
        code, out, err = run_cli(["validate", str(path)])
        assert_refused_cleanly(code, out, err, may_be_valid=True)
        # The same verdict in JSON, parseable, problems listed with key paths.
        jcode, jout, jerr = run_cli(["validate", "--output", "json", str(path)])
        assert jcode == code and "Traceback" not in jerr
        doc = json.loads(jout)
        assert doc["valid"] is (code == 0)
        if code == 2 and "to fix:" in err:
            assert doc["problems"] and all(p["message"] for p in doc["problems"])
    finally:
        path.unlink()


@FUZZ_SETTINGS
@given(text=toml_texts())
def test_apply_never_crashes_on_generated_toml(quiet_env, text: str) -> None:
    path = _write(text)
    try:
        code, out, err = run_cli(apply_argv(path))
        assert_refused_cleanly(code, out, err, may_be_valid=False)
    finally:
        path.unlink()


@settings(FUZZ_SETTINGS, max_examples=max(FUZZ_EXAMPLES // 2, 20))
@given(path=st.sampled_from(KNOWN_PATHS), value=_values)
def test_a_wrong_value_at_any_known_key_is_refused_or_accepted_cleanly(quiet_env, path, value) -> None:
    data = _base_plan()
    _set(data, path, value)
    plan_path = _write(tomli_w.dumps(data))
    try:
        code, out, err = run_cli(["validate", str(plan_path)])
        assert_refused_cleanly(code, out, err, may_be_valid=True)
        if code == 2 and "to fix:" in err:
            # The problem points at the key that was bent (or its table), not somewhere unrelated.
            keyish = [str(p) for p in path if isinstance(p, str)]
            assert any(k in err for k in keyish) or "schema_version" in err or "name" in err, (path, err)
    finally:
        plan_path.unlink()


TOKEN_SHAPED = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=64,
                       max_size=64)


@settings(FUZZ_SETTINGS, max_examples=max(FUZZ_EXAMPLES // 3, 20))
@given(path=st.sampled_from([p for p in KNOWN_PATHS if isinstance(p[-1], str)]), token=TOKEN_SHAPED)
def test_a_token_pasted_at_any_key_is_refused_and_never_echoed(quiet_env, path, token) -> None:
    data = _base_plan()
    _set(data, path, token)
    plan_path = _write(tomli_w.dumps(data))
    try:
        for argv in (["validate", str(plan_path)], ["validate", "--output", "json", str(plan_path)],
                     apply_argv(plan_path)):
            code, out, err = run_cli(argv)
            assert code == 2, (argv, err)
            assert token not in out + err
            assert "token" in (out + err).lower()
    finally:
        plan_path.unlink()


@FUZZ_SETTINGS
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_garbage_and_binary_files_are_refused(quiet_env, blob) -> None:
    path = _write(blob)
    try:
        for argv in (["validate", str(path)], apply_argv(path)):
            code, out, err = run_cli(argv)
            assert_refused_cleanly(code, out, err, may_be_valid=False)
    finally:
        path.unlink()


def _special_paths(tmp_path: Path) -> list[tuple[str, Path]]:
    empty = tmp_path / "empty.toml"
    empty.write_bytes(b"")
    directory = tmp_path / "plan-dir.toml"
    directory.mkdir()
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b'name = "' + b"a" * (MAX_PLAN_BYTES + 10) + b'"\n')
    nul = tmp_path / "nul.toml"
    nul.write_bytes(b'schema_version = 1\nname = "a\x00b"\n')
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbfschema_version = 1\nname = "demo"\n')
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes('schema_version = 1\nname = "demo"\n'.encode("utf-16"))
    cases = [("empty file", empty), ("directory", directory), ("over 1 MB", huge), ("NUL in a string", nul),
             ("UTF-8 BOM", bom), ("UTF-16", utf16), ("missing", tmp_path / "missing.toml"),
             ("endless device", Path("/dev/zero")), ("null device", Path("/dev/null"))]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.toml"
        os.mkfifo(fifo)
        cases.append(("FIFO nobody writes to", fifo))
    unreadable = tmp_path / "unreadable.toml"
    unreadable.write_text('schema_version = 1\nname = "demo"\n')
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        cases.append(("no permission", unreadable))
    return [(label, p) for label, p in cases if label not in ("endless device", "null device") or p.exists()]


def test_files_that_are_not_plans_are_refused(quiet_env, tmp_path) -> None:
    seen = 0
    for label, path in _special_paths(tmp_path):
        for argv in (["validate", str(path)], ["validate", "--output", "json", str(path)], apply_argv(path),
                     ["--dry-run", str(path), "--token-env", NO_TOKEN_VAR, "--endpoint", CLOSED_ENDPOINT],
                     ["--destroy", str(path), "--token-env", NO_TOKEN_VAR, "--endpoint", CLOSED_ENDPOINT]):
            code, out, err = run_cli(argv)
            assert code == 2, (label, argv, out, err)
            assert "Traceback" not in out + err, label
            assert (err if "json" not in argv else out).strip(), label
            seen += 1
    assert seen >= 40


def test_bad_options_are_refused_without_traceback(quiet_env, tmp_path) -> None:
    plan = tmp_path / "ok.toml"
    plan.write_text('schema_version = 1\nname = "demo"\n')
    for argv in (["--apply"], ["--apply", str(plan), "--output", "yaml"], ["--apply", str(plan), "--endpoint", "ftp://x"],
                 ["--apply", str(plan), "--token-env", "NOT A VAR"], ["--apply", str(plan), "--dry-run", str(plan)],
                 ["--apply", str(plan), str(plan)], ["validate"], ["validate", str(plan), "--output", "xml"],
                 ["--no-such-flag"], ["--apply", str(plan), "--endpoint", "http://"]):
        code, out, err = run_cli(argv)
        assert code == 2, (argv, out, err)
        assert "Traceback" not in out + err and err.strip(), argv


SUBPROCESS_CASES = [
    ("binary", b"\x00\xff\xfe\x01garbage\x80"),
    ("wrong types", b'schema_version = "1"\nname = 5\n[control_plane]\ncount = 1e999\n[[worker_pools]]\nname = []\n'),
    ("huge integer", b'schema_version = 1\nname = "x"\n[control_plane]\ncount = 99999999999999999999999999\n'),
    ("not toml", b"{ this is json? }\n"),
    ("deep nesting", b"a = " + b"[" * 400 + b"]" * 400 + b"\n"),
]


@pytest.mark.parametrize("label,content", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_real_process_exits_2_without_traceback(tmp_path, label, content) -> None:
    path = tmp_path / "plan.toml"
    path.write_bytes(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCLOUD")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               HCLOUD_CONFIG=str(tmp_path / "none.toml"))
    for args in (["validate", str(path)], apply_argv(path)):
        proc = subprocess.run([sys.executable, "-m", "khz_tui", *args], capture_output=True, text=True,
                              timeout=60, env=env)
        assert proc.returncode == 2, (label, args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        assert "to fix:" in proc.stderr
