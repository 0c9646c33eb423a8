"""The commands a simulated node accepts. Everything else exits 127 (`sh: 1: X: not found`).

Kept small on purpose: each entry is a command an installer really needs, with the options listed
in docs/simulated-nodes.md. Options outside that list are usage errors (exit 2), never ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import posixpath
import re
import time
from collections.abc import Callable

from khz_tui.sim.nodes.filesystem import FsError, VirtualFilesystem
from khz_tui.sim.nodes.machine import CloudInitProgress
from khz_tui.sim.nodes.shell import Command, Input, Invocation, Shell

SLEEP_LIMIT = 3600.0
"""Longest `sleep` accepted, in simulated seconds."""
CLOUD_INIT_WAIT_LIMIT = 1800.0
"""`cloud-init status --wait` gives up after this many simulated seconds."""


async def _usage(inv: Invocation, message: str) -> int:
    await inv.err(f"{inv.argv[0]}: {message}\n")
    return 2


async def cmd_true(inv: Invocation) -> int:
    """`true`."""
    return 0


async def cmd_false(inv: Invocation) -> int:
    """`false`."""
    return 1


async def cmd_echo(inv: Invocation) -> int:
    """`echo [-n] WORDS...`."""
    args = inv.argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    await inv.out(" ".join(args) + ("\n" if newline else ""))
    return 0


async def cmd_printf(inv: Invocation) -> int:
    """`printf FORMAT [ARGS...]` with %s, %d, %% and backslash escapes \\n \\t \\\\."""
    if len(inv.argv) < 2:
        return await _usage(inv, "usage: printf format [arguments]")
    fmt, args = inv.argv[1], list(inv.argv[2:])
    out: list[str] = []
    # The format is reused while arguments remain, as POSIX printf does (bounded by len(args)).
    for _ in range(max(1, len(args))):
        i = 0
        while i < len(fmt):
            c = fmt[i]
            if c == "\\" and i + 1 < len(fmt):
                out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(fmt[i + 1], "\\" + fmt[i + 1]))
                i += 2
            elif c == "%" and i + 1 < len(fmt):
                spec = fmt[i + 1]
                if spec == "%":
                    out.append("%")
                elif spec in "sd":
                    out.append(args.pop(0) if args else "")
                else:
                    return await _usage(inv, f"%{spec}: invalid directive")
                i += 2
            else:
                out.append(c)
                i += 1
        if not args:
            break
    await inv.out("".join(out))
    return 0


async def cmd_cat(inv: Invocation) -> int:
    """`cat [FILE|-]...`."""
    status = 0
    for name in inv.argv[1:] or ["-"]:
        if name == "-":
            await inv.out(await inv.stdin.read())
            continue
        try:
            await inv.out(b"" if name == "/dev/null" else inv.node.fs.read(name))
        except FsError as exc:
            await inv.err(f"cat: {name}: {exc.reason}\n")
            status = 1
    return status


async def cmd_test(inv: Invocation) -> int:
    """`test` / `[ ... ]`: -f -e -d -s -n -z, `!`, = and !=."""
    args = inv.argv[1:]
    if inv.argv[0] == "[":
        if not args or args[-1] != "]":
            return await _usage(inv, "missing ]")
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    fs: VirtualFilesystem = inv.node.fs
    if len(args) == 2 and args[0] in ("-f", "-e", "-d", "-s", "-n", "-z", "-x", "-r"):
        op, x = args
        tests: dict[str, Callable[[], bool]] = {
            "-f": lambda: fs.is_file(x), "-e": lambda: fs.exists(x), "-d": lambda: fs.is_dir(x),
            "-s": lambda: fs.is_file(x) and len(fs.read(x)) > 0, "-n": lambda: x != "",
            "-z": lambda: x == "", "-x": lambda: fs.is_file(x) and bool(fs.mode(x) & 0o111),
            "-r": lambda: fs.exists(x),
        }
        result = tests[op]()
    elif len(args) == 3 and args[1] in ("=", "!="):
        result = (args[0] == args[2]) == (args[1] == "=")
    elif len(args) == 1:
        result = args[0] != ""
    elif not args:
        result = False
    else:
        return await _usage(inv, "unsupported expression")
    return 0 if result != negate else 1


async def cmd_mkdir(inv: Invocation) -> int:
    """`mkdir [-p] [-m MODE] DIR...`."""
    parents, mode, paths = False, 0o755, []
    args = iter(inv.argv[1:])
    for a in args:
        if a == "-p":
            parents = True
        elif a == "-m":
            mode = int(next(args, "755"), 8)
        elif a.startswith("-"):
            return await _usage(inv, f"invalid option -- '{a}'")
        else:
            paths.append(a)
    if not paths:
        return await _usage(inv, "missing operand")
    status = 0
    for p in paths:
        try:
            inv.node.fs.mkdir(p, parents=parents, mode=mode)
        except FsError as exc:
            await inv.err(f"mkdir: cannot create directory '{p}': {exc.reason}\n")
            status = 1
    return status


async def cmd_tee(inv: Invocation) -> int:
    """`tee [-a] FILE...`: copies stdin to the files and to stdout."""
    append = "-a" in inv.argv[1:]
    files = [a for a in inv.argv[1:] if a != "-a"]
    if any(f.startswith("-") for f in files):
        return await _usage(inv, "unsupported option")
    data = await inv.stdin.read()
    status = 0
    for f in files:
        try:
            inv.node.fs.write(f, data, append=append)
        except FsError as exc:
            await inv.err(f"tee: {f}: {exc.reason}\n")
            status = 1
    await inv.out(data)
    return status


async def cmd_chmod(inv: Invocation) -> int:
    """`chmod MODE FILE...` with an octal mode or +x / -x / u+x."""
    if len(inv.argv) < 3:
        return await _usage(inv, "missing operand")
    spec, files = inv.argv[1], inv.argv[2:]
    fs = inv.node.fs
    status = 0
    for f in files:
        try:
            current = fs.mode(f)
            if re.fullmatch(r"[0-7]{1,4}", spec):
                fs.chmod(f, int(spec, 8))
            elif re.fullmatch(r"[ugoa]*[+-][rwx]+", spec):
                who, op, what = re.fullmatch(r"([ugoa]*)([+-])([rwx]+)", spec).groups()  # type: ignore[union-attr]
                bits = sum({"r": 4, "w": 2, "x": 1}[c] for c in what)
                shifts = {"u": [6], "g": [3], "o": [0]}
                mask = sum(bits << s for w in (who or "ugo").replace("a", "ugo") for s in shifts[w])
                fs.chmod(f, current | mask if op == "+" else current & ~mask)
            else:
                return await _usage(inv, f"invalid mode: '{spec}'")
        except FsError as exc:
            await inv.err(f"chmod: cannot access '{f}': {exc.reason}\n")
            status = 1
    return status


async def cmd_rm(inv: Invocation) -> int:
    """`rm [-f] [-r|-rf] PATH...`."""
    flags = "".join(a[1:] for a in inv.argv[1:] if a.startswith("-"))
    if set(flags) - set("rfR"):
        return await _usage(inv, "unsupported option")
    force, recursive = "f" in flags, bool(set(flags) & set("rR"))
    fs = inv.node.fs
    status = 0
    for p in [a for a in inv.argv[1:] if not a.startswith("-")]:
        try:
            if fs.is_dir(p):
                if not recursive:
                    raise FsError(p, "Is a directory")
                fs.remove_tree(p)
            else:
                fs.remove(p)
        except FsError as exc:
            if not (force and exc.reason == "No such file or directory"):
                await inv.err(f"rm: cannot remove '{p}': {exc.reason}\n")
                status = 1
    return status


async def cmd_mv(inv: Invocation) -> int:
    """`mv SRC DEST` for a file (DEST may be a directory)."""
    if len(inv.argv) != 3:
        return await _usage(inv, "usage: mv SRC DEST")
    src, dest = inv.argv[1:]
    fs = inv.node.fs
    if fs.is_dir(dest):
        dest = posixpath.join(dest, posixpath.basename(src))
    try:
        fs.rename(src, dest)
    except FsError as exc:
        await inv.err(f"mv: cannot move '{src}': {exc.reason}\n")
        return 1
    return 0


async def cmd_hostname(inv: Invocation) -> int:
    """`hostname` or `hostname -I` (all addresses)."""
    if inv.argv[1:] == ["-I"]:
        await inv.out(" ".join(inv.node.addresses()) + " \n")
    elif inv.argv[1:]:
        return await _usage(inv, "only `hostname` and `hostname -I` are supported")
    else:
        await inv.out(inv.node.name + "\n")
    return 0


async def cmd_uname(inv: Invocation) -> int:
    """`uname [-m|-s|-r|-a]`."""
    arch = "aarch64" if inv.node.spec.architecture == "arm" else "x86_64"
    release = "6.8.0-51-generic"
    values = {"-m": arch, "-s": "Linux", "-r": release,
              "-a": f"Linux {inv.node.name} {release} #52-Ubuntu SMP {arch} GNU/Linux"}
    arg = inv.argv[1] if len(inv.argv) > 1 else "-s"
    if arg not in values or len(inv.argv) > 2:
        return await _usage(inv, "supported: -m -s -r -a")
    await inv.out(values[arg] + "\n")
    return 0


async def cmd_ip(inv: Invocation) -> int:
    """`ip -o -4 addr show [[dev] IFACE]` (also `ip -4 -o a s`)."""
    args = inv.argv[1:]
    opts = {a for a in args if a.startswith("-")}
    words = [a for a in args if not a.startswith("-")]
    if opts != {"-o", "-4"} or not words or words[0] not in ("addr", "a", "address") \
            or (len(words) > 1 and words[1] not in ("show", "s", "list")):
        return await _usage(inv, "supported: ip -o -4 addr show [dev IFACE]")
    wanted = [w for w in words[2:] if w != "dev"]
    ifaces = {"lo": "127.0.0.1"} | inv.node.interfaces()
    if wanted and wanted[0] not in ifaces:
        await inv.err(f'Device "{wanted[0]}" does not exist.\n')
        return 1
    lines = []
    for index, (name, addr) in enumerate(ifaces.items(), start=1):
        if wanted and name != wanted[0]:
            continue
        if name == "lo":
            lines.append(f"{index}: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever "
                         "preferred_lft forever")
        elif name == "eth0":
            lines.append(f"{index}: eth0    inet {addr}/32 metric 100 scope global dynamic eth0\\       "
                         "valid_lft 86076sec preferred_lft 86076sec")
        else:
            lines.append(f"{index}: {name}    inet {addr}/32 brd {addr} scope global dynamic {name}\\       "
                         "valid_lft 86077sec preferred_lft 86077sec")
    await inv.out("".join(line + "\n" for line in lines))
    return 0


async def cmd_sleep(inv: Invocation) -> int:
    """`sleep SECONDS` (simulated seconds: scaled by the simulator's time scale)."""
    try:
        seconds = float(inv.argv[1].rstrip("s"))
    except (IndexError, ValueError):
        return await _usage(inv, "invalid time interval")
    if not 0 <= seconds <= SLEEP_LIMIT:
        return await _usage(inv, f"at most {SLEEP_LIMIT:.0f} seconds")
    await asyncio.sleep(seconds * inv.node.time_scale)
    return 0


async def cmd_base64(inv: Invocation) -> int:
    """`base64 [-d] [-w0] [FILE]`."""
    args = inv.argv[1:]
    decode = any(a in ("-d", "--decode") for a in args)
    files = [a for a in args if not a.startswith("-")]
    if set(a for a in args if a.startswith("-")) - {"-d", "--decode", "-w0"}:
        return await _usage(inv, "supported: -d, -w0")
    try:
        data = inv.node.fs.read(files[0]) if files else await inv.stdin.read()
    except FsError as exc:
        await inv.err(f"base64: {files[0]}: {exc.reason}\n")
        return 1
    if decode:
        try:
            await inv.out(base64.b64decode(b"".join(data.split()), validate=True))
        except (binascii.Error, ValueError):
            await inv.err("base64: invalid input\n")
            return 1
    else:
        encoded = base64.b64encode(data).decode()
        if "-w0" not in args:
            encoded = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
        await inv.out(encoded + ("\n" if "-w0" not in args or encoded else ""))
    return 0


INSTALLER_MARKER = b"# k3s install script (https://get.k3s.io), interpreted by the simulated node\n"
"""What `curl https://get.k3s.io` returns here; `sh` recognises it and runs the simulated installer."""


CURL_CONNECT_SECONDS = 120.0
"""How long a connection to an address nobody answers at hangs (SYN retries), before time scaling."""


async def _curl_k3s(inv: Invocation, url: str, insecure: bool, fail: bool, connect_timeout: float) -> int:
    """`curl https://IP:PORT/PATH` from this machine: what k3s' supervisor answers without a token
    (`/cacerts`, `/ping`), reached the way the machine's packets would go (private addresses only
    inside its own networks)."""
    m = re.fullmatch(r"https://([0-9.]+):(\d+)(/.*)?", url)
    assert m is not None
    address, port, path = m.group(1), m.group(2), m.group(3) or "/"
    k3s = inv.node.host.k3s
    cluster = k3s.reachable_cluster(inv.node, f"https://{address}:{port}")
    if cluster is None:
        cloud = k3s.cloud
        if cloud.server_at(address, inv.node.server_id) is not None:
            await inv.err(f"curl: (7) Failed to connect to {address} port {port} after 0 ms: Couldn't connect to server\n")
            return 7
        await asyncio.sleep(connect_timeout * inv.node.time_scale)
        await inv.err(f"curl: (28) Failed to connect to {address} port {port} after {int(connect_timeout * 1000)} ms: "
                      "Timeout was reached\n")
        return 28
    if not insecure:
        await inv.err("curl: (60) SSL certificate problem: unable to get local issuer certificate\n")
        return 60
    if path.split("?")[0] == "/cacerts":
        await inv.out(cluster.certificates.ca_cert)
        return 0
    if path.split("?")[0] == "/ping":
        await inv.out("pong")
        return 0
    if fail:
        await inv.err("curl: (22) The requested URL returned error: 401\n")
        return 22
    await inv.out('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",'
                  '"reason":"Unauthorized","code":401}')
    return 0


async def cmd_curl(inv: Invocation) -> int:
    """`curl [-sfLSk] [--connect-timeout S] URL [-o FILE]`: https://get.k3s.io, and k3s' supervisor on
    https://IP:PORT (see `_curl_k3s`); every other host fails to resolve (no internet)."""
    args = inv.argv[1:]
    url, output = None, None
    insecure = fail = False
    connect_timeout = CURL_CONNECT_SECONDS
    it = iter(args)
    for a in it:
        if a in ("-o", "--output"):
            output = next(it, None)
        elif a == "--connect-timeout":
            try:
                connect_timeout = min(float(next(it, "")), CURL_CONNECT_SECONDS)
            except ValueError:
                await inv.err("curl: option --connect-timeout: expected a proper numerical parameter\n")
                return 2
        elif a in ("--silent", "--fail", "--location", "--show-error", "--insecure"):
            insecure = insecure or a == "--insecure"
            fail = fail or a == "--fail"
        elif re.fullmatch(r"-[sfLSk]+", a):
            insecure = insecure or "k" in a
            fail = fail or "f" in a
        elif a.startswith("-"):
            await inv.err(f"curl: option {a}: is unknown\n")
            return 2
        else:
            url = a
    if url is None:
        await inv.err("curl: no URL specified!\n")
        return 2
    if re.fullmatch(r"https://[0-9.]+:\d+(/.*)?", url):
        return await _curl_k3s(inv, url, insecure, fail, connect_timeout)
    host = re.sub(r"^[a-z]+://", "", url).split("/", 1)[0]
    if host != "get.k3s.io":
        await inv.err(f"curl: (6) Could not resolve host: {host}\n")
        return 6
    script = b"#!/bin/sh\n" + INSTALLER_MARKER
    if output:
        try:
            inv.node.fs.write(output, script)
        except FsError as exc:
            await inv.err(f"curl: (23) Failure writing output to destination: {exc.reason}\n")
            return 23
    else:
        await inv.out(script)
    return 0


async def cmd_sh(inv: Invocation) -> int:
    """`sh -c SCRIPT`, `sh -s - ARGS` / `sh -` (script from stdin), `sh FILE ARGS`; also `bash`."""
    args = inv.argv[1:]
    if args and args[0] == "-e":
        args = args[1:]  # accepted: every supported script already stops on `&&` chains explicitly
    if args and args[0] == "-c":
        if len(args) < 2:
            return await _usage(inv, "-c: option requires an argument")
        script_text, positional = args[1].encode(), args[2:]
    elif args and args[0] in ("-s", "-"):
        script_text = await inv.stdin.read()
        positional = args[1:]
        if positional and positional[0] == "-":
            positional = positional[1:]
    elif args:
        try:
            script_text = inv.node.fs.read(args[0])
        except FsError as exc:
            await inv.err(f"sh: 0: cannot open {args[0]}: {exc.reason}\n")
            return 2
        positional = args[1:]
    else:
        script_text, positional = await inv.stdin.read(), []
    if script_text.startswith(b"#!/bin/sh\n" + INSTALLER_MARKER):
        installer = inv.node.host.installer if inv.node.host else None
        if installer is None:
            await inv.err("sh: k3s installer unavailable\n")
            return 1
        status: int = await installer(inv, positional)
        return status
    sub = Shell(inv.node, inv.shell.lookup)
    sub.env = dict(inv.env)
    return await sub.run(script_text.decode("utf-8", "replace"), Input(b""), inv.stdout, inv.stderr)


async def cmd_cloud_init(inv: Invocation) -> int:
    """`cloud-init status [--wait] [--long]`."""
    args = inv.argv[1:]
    if not args or args[0] != "status" or set(args[1:]) - {"--wait", "-w", "--long", "-l"}:
        return await _usage(inv, "supported: cloud-init status [--wait] [--long]")
    progress: CloudInitProgress = inv.node.cloud_init
    if {"--wait", "-w"} & set(args):
        deadline = time.monotonic() + CLOUD_INIT_WAIT_LIMIT * inv.node.time_scale
        # Real cloud-init prints a dot per poll while it waits.
        while not progress.finished.is_set() and time.monotonic() < deadline:
            await inv.out(".")
            try:
                await asyncio.wait_for(progress.finished.wait(), timeout=max(0.05, 0.25 * inv.node.time_scale))
            except TimeoutError:
                continue
        await inv.out("\n")
    status = progress.status
    lines = [f"status: {status}"]
    if {"--long", "-l"} & set(args):
        lines += [f"extended_status: {status}", "boot_status_code: enabled-by-generator",
                  "detail: DataSourceHetzner",
                  "errors: " + (("\n" + "".join(f"\t- {e}\n" for e in progress.errors)).rstrip()
                                if progress.errors else "[]"),
                  "recoverable_errors: " + (("\n\tWARNING:\n" + "".join(
                      f"\t\t- {w}\n" for w in progress.recoverable)).rstrip() if progress.recoverable else "{}")]
    await inv.out("".join(line + "\n" for line in lines))
    return progress.exit_code


BASIC_COMMANDS: dict[str, Command] = {
    "true": cmd_true, "false": cmd_false, "echo": cmd_echo, "printf": cmd_printf, "cat": cmd_cat,
    "test": cmd_test, "[": cmd_test, "mkdir": cmd_mkdir, "tee": cmd_tee, "chmod": cmd_chmod,
    "rm": cmd_rm, "mv": cmd_mv, "hostname": cmd_hostname, "uname": cmd_uname, "ip": cmd_ip,
    "sleep": cmd_sleep, "base64": cmd_base64, "curl": cmd_curl, "sh": cmd_sh, "bash": cmd_sh,
    "cloud-init": cmd_cloud_init,
}
"""Commands every node has, by name."""

_BIN_DIRS = ("/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin")


def command_name(word: str) -> str | None:
    """The command a word names: itself, or the basename of a path in a standard bin directory."""
    if "/" not in word:
        return word
    directory, name = posixpath.split(word)
    return name if directory in _BIN_DIRS else None
