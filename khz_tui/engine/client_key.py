"""The SSH client key, checked before anything in the cloud changes, the way OpenSSH checks it.

An apply that creates servers and only then finds it cannot sign in leaves half a cluster behind, so
the runner asks `check_client_key` first. What it accepts, in order:

1. an unencrypted private key;
2. an encrypted one, unlocked by the passphrase in the environment variable `KHZ_TUI_SSH_PASSPHRASE`
   (environment only: a passphrase in the plan or on the command line would end up in files and
   process lists);
3. an encrypted one whose key an SSH agent holds (`SSH_AUTH_SOCK`): the agent signs, the key never
   leaves it.

Anything else (unreadable, not a key, wrong passphrase, encrypted with neither a passphrase nor an
agent holding it, or a public key that is not its other half) refuses the run before any request that
mutates, with a message that says which of the three ways to use. The wizard reads the same variable
and agent; it does not prompt for a passphrase (the run console shows the refusal and what to do).

A private key that group or others may read is used, with a warning: OpenSSH refuses such a key
("UNPROTECTED PRIVATE KEY FILE"), but refusing would not make it secret again, and the warning names
the `chmod 600` that does.

The unlocked key is kept for the process (keyed by path and file version) so every node's session
uses it without decrypting it again.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

if TYPE_CHECKING:
    from khz_tui.plan.model import ClusterPlan

#: The environment variable that holds the private key's passphrase.
PASSPHRASE_ENV = "KHZ_TUI_SSH_PASSPHRASE"
AGENT_ENV = "SSH_AUTH_SOCK"


class KeyProblem(Exception):
    """The client key cannot be used: `message` says why, `hint` what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class SigningKey:
    """How to sign in: with the unlocked `key`, or through the agent at `agent_path` with the key
    whose public half is `public` (any key the agent holds when `public` is None)."""

    path: Path
    key: asyncssh.SSHKey | None = None
    agent_path: str | None = None
    public: asyncssh.SSHKey | None = None

    @asynccontextmanager
    async def client_keys(self) -> AsyncIterator[Sequence[asyncssh.SSHKey | asyncssh.SSHKeyPair]]:
        """The keys for `asyncssh.connect(client_keys=...)`; an agent's stay usable inside the block."""
        if self.key is not None:
            yield [self.key]
            return
        assert self.agent_path is not None
        agent = await asyncssh.connect_agent(self.agent_path)
        if agent is None:
            raise KeyProblem(f"the SSH agent at {AGENT_ENV}={self.agent_path} does not answer",
                             _unlock_hint(self.path))
        try:
            pairs = await agent.get_keys()
            if self.public is not None:
                pairs = [p for p in pairs if p.public_data == self.public.public_data]
            if not pairs:  # asyncssh would fall back to ~/.ssh's keys on an empty list
                raise KeyProblem(f"the SSH agent at {AGENT_ENV}={self.agent_path} does not hold the key {self.path}",
                                 _unlock_hint(self.path))
            yield pairs
        finally:
            agent.close()
            await agent.wait_closed()


_unlocked: dict[tuple[Path, int, int], SigningKey] = {}


def _unlock_hint(path: Path) -> str:
    return (f"unlock it in one of two ways: export {PASSPHRASE_ENV}=<its passphrase>, or load it into an "
            f"SSH agent with 'ssh-add {path}' and keep {AGENT_ENV} set; or point ssh.private_key at a key "
            "without a passphrase")


def mode_warning(path: Path) -> str | None:
    """A warning when group or others may read or change the private key (OpenSSH refuses those)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name != "posix" or not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (f"the SSH private key {path} is accessible by other users (mode {stat.S_IMODE(mode):o}); OpenSSH "
            f"would refuse it as an UNPROTECTED PRIVATE KEY FILE. khz-tui uses it; make it private with "
            f"'chmod 600 {path}'")


def _read_public(path: Path | None) -> asyncssh.SSHKey | None:
    if path is None or not path.is_file():
        return None
    try:
        return asyncssh.read_public_key(path)
    except (OSError, asyncssh.KeyImportError):
        return None


async def _agent_holding(path: Path, public: asyncssh.SSHKey | None, env: Mapping[str, str]) -> SigningKey | None:
    """The agent's signing key for `public` (None when there is no agent or it lacks the key)."""
    sock = env.get(AGENT_ENV)
    if not sock:
        return None
    signing = SigningKey(path, agent_path=sock, public=public)
    try:
        async with signing.client_keys():
            return signing
    except (OSError, asyncssh.Error, KeyProblem):
        return None


async def signing_key(private: Path, public: Path | None = None, *,
                      environ: Mapping[str, str] | None = None) -> SigningKey:
    """How to sign in with the private key at `private` (see the module's order); KeyProblem when
    it cannot be used. `public` names its public half (default: `private` + ".pub")."""
    env = os.environ if environ is None else environ
    path = Path(private).expanduser()
    try:
        info = path.stat()
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise KeyProblem(f"the SSH private key {path} cannot be read ({exc.strerror or type(exc).__name__})",
                         "point ssh.private_key in the plan at a private key this user can read") from None
    cache_key = (path, info.st_mtime_ns, info.st_size)
    if cache_key in _unlocked:
        return _unlocked[cache_key]
    pub_path = Path(public).expanduser() if public is not None else path.with_name(path.name + ".pub")
    pub = _read_public(pub_path)
    passphrase = env.get(PASSPHRASE_ENV) or None
    try:
        # Decrypting runs a deliberately slow key derivation: off the event loop.
        key = await asyncio.to_thread(asyncssh.import_private_key, data, passphrase)
        found = SigningKey(path, key=key, public=pub)
    except asyncssh.KeyEncryptionError as exc:
        agent = await _agent_holding(path, pub, env)
        if agent is None:
            if "bcrypt" in str(exc):
                raise KeyProblem(f"the SSH private key {path} is encrypted, and unlocking this format needs the "
                                 "Python package bcrypt, which is not installed",
                                 f"install it (pip install bcrypt), or load the key into an SSH agent with "
                                 f"'ssh-add {path}' and keep {AGENT_ENV} set") from None
            raise KeyProblem(f"the passphrase in {PASSPHRASE_ENV} does not unlock the SSH private key {path}",
                             f"set {PASSPHRASE_ENV} to the key's passphrase, or unset it and load the key "
                             f"into an SSH agent with 'ssh-add {path}'") from None
        found = agent
    except asyncssh.KeyImportError as exc:
        if "passphrase" not in str(exc).lower():
            raise KeyProblem(f"{path} is not a private key khz-tui can read ({exc})",
                             "point ssh.private_key at an OpenSSH private key (ssh-keygen -t ed25519 makes "
                             "one)") from None
        agent = await _agent_holding(path, pub, env)
        if agent is None:
            held = (f"; the SSH agent at {AGENT_ENV} does not hold it" if env.get(AGENT_ENV)
                    else f", and {AGENT_ENV} names no SSH agent")
            raise KeyProblem(f"the SSH private key {path} is protected by a passphrase: {PASSPHRASE_ENV} is not "
                             f"set{held}", _unlock_hint(path)) from None
        found = agent
    _unlocked[cache_key] = found
    return found


@dataclass(frozen=True)
class KeyRefusal:
    """Why an apply must not start, for RunFinished(failed_step="ssh-key", bad_input=True)."""

    message: str
    hint: str


async def check_client_key(plan: ClusterPlan, warn: Callable[[str], None], *,
                           environ: Mapping[str, str] | None = None) -> KeyRefusal | None:
    """Check the plan's SSH key pair as OpenSSH would before anything is created: None when it can
    sign in (after passing any warning to `warn`), else why not and what to do."""
    private = Path(plan.ssh.private_key).expanduser()
    public = Path(plan.ssh.public_key).expanduser()
    try:
        signing = await signing_key(private, public, environ=environ)
    except KeyProblem as exc:
        return KeyRefusal(exc.message, exc.hint)
    if signing.key is not None:
        expected = _read_public(public)
        if expected is not None and expected.public_data != signing.key.public_data:
            return KeyRefusal(f"{public} (ssh.public_key) is not the public half of {private} (ssh.private_key)",
                              f"point ssh.public_key at {private}.pub, or regenerate it with "
                              f"'ssh-keygen -y -f {private} > {public}'")
    warning = mode_warning(private)
    if warning:
        warn(warning)
    return None
