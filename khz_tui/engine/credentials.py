"""Where the Hetzner Cloud API token comes from. It is returned to the caller and never printed or logged.

Resolution order, the same for the wizard and headless runs (the README and docs/user-guide.md say it too):
1. the environment variable named by `--token-env`, else the plan's `hcloud.token_env` (default HCLOUD_TOKEN);
2. the hcloud CLI's contexts file (`$HCLOUD_CONFIG`, else `$XDG_CONFIG_HOME/hcloud/cli.toml`, else
   `~/.config/hcloud/cli.toml`): the context the plan names (`hcloud.context`), else `$HCLOUD_CONTEXT`,
   else the file's `active_context`. The plan's choice beats the shell's, like the CLI's `--context` flag;
3. the token the wizard saved when asked to (`token` in khz-tui's config folder from platformdirs,
   e.g. `~/.config/khz-tui/token`; mode 0600, refused when others may read it). It comes after the
   two above because they are per-shell or per-project choices, while the saved token is one default
   for the whole machine;
4. a prompt in the wizard (the TUI's job; headless runs stop with `CredentialsError`).
A token typed into the wizard in this session is handed to the engine directly and beats all of these.

Importing this module stays cheap (no plan model, no platformdirs): the wizard's first screen uses it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from khz_tui.engine.options import RunOptions
    from khz_tui.plan.model import ClusterPlan

DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1"


class CredentialsError(Exception):
    """No usable token: the message says what was tried and lists the ways to supply one."""


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _config_home(env: Mapping[str, str], home: Path | None) -> Path:
    """The XDG config folder: `$XDG_CONFIG_HOME`, else `~/.config` (of `home` when given)."""
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"])
    base = home if home is not None else Path(env.get("HOME") or Path.home())
    return base / ".config"


def cli_config_path(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Where the hcloud CLI keeps its contexts, following its own conventions."""
    env = _environ(environ)
    if env.get("HCLOUD_CONFIG"):
        return Path(env["HCLOUD_CONFIG"]).expanduser()
    return _config_home(env, home) / "hcloud" / "cli.toml"


def _read_cli_config(path: Path) -> dict[str, Any] | None:
    """The parsed contexts file, None when it does not exist; CredentialsError when it is unreadable."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Only the error's kind: the file holds tokens, so none of its text goes into the message.
        raise CredentialsError(f"the hcloud CLI config {path} cannot be read ({type(exc).__name__}); "
                               "fix it with 'hcloud context list', or point HCLOUD_CONFIG elsewhere") from None


def _contexts(config: dict[str, Any]) -> list[dict[str, Any]]:
    contexts = config.get("contexts", [])
    return [c for c in contexts if isinstance(c, dict) and isinstance(c.get("name"), str)]


def list_cli_contexts(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[str]:
    """Names of the hcloud CLI's contexts (for the wizard's picker); [] when there is no usable file."""
    try:
        config = _read_cli_config(cli_config_path(environ, home))
    except CredentialsError:
        return []
    return [c["name"] for c in _contexts(config or {})]


# -- the token saved by the wizard ---------------------------------------------------------------


def saved_token_path(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Where the wizard keeps a token the person asked it to save: `token` in platformdirs' config folder.

    `environ` and `home` stand in for the process's own (tests); with them the XDG layout that
    platformdirs uses on Linux is followed (`$XDG_CONFIG_HOME/khz-tui`, else `~/.config/khz-tui`).
    """
    if environ is None and home is None:
        from platformdirs import user_config_dir  # only when a token is looked for: keeps start-up lean

        return Path(user_config_dir("khz-tui")) / "token"
    return _config_home(_environ(environ), home) / "khz-tui" / "token"


def save_token(token: str, environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Write the token readable by this user only and return the file's path.

    The file is 0600 before the token is written (also when it existed with looser permissions),
    so the token is never, even briefly, readable by anyone else.
    """
    path = saved_token_path(environ, home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if hasattr(os, "fchmod"):  # O_CREAT's mode does not apply to a file that already existed
            os.fchmod(fh.fileno(), 0o600)
        fh.write(token.strip() + "\n")
    return path


def load_saved_token(environ: Mapping[str, str] | None = None, home: Path | None = None) -> str | None:
    """The saved token, None when there is none; CredentialsError when the file is unreadable or
    others may read it (like ssh with a private key, a token anyone can read is not used)."""
    path = saved_token_path(environ, home)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"the saved token {path} cannot be read ({type(exc).__name__}); "
                               "delete it and save the token again from the wizard") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(f"the saved token {path} may be read by other users (mode {stat.S_IMODE(mode):o}); "
                               f"make it private with 'chmod 600 {path}', or delete it")
    return text.strip() or None


# -- resolution ----------------------------------------------------------------------------------


def _no_token_message(var: str, tried: list[str], saved: Path) -> str:
    return (
        "no Hetzner Cloud API token found (tried: " + "; ".join(tried) + ").\n"
        "Give khz-tui a token in one of these ways:\n"
        f"  1. export {var}=<token>   (or name another variable with --token-env or hcloud.token_env)\n"
        "  2. create an hcloud CLI context: 'hcloud context create <name>', and select it with\n"
        "     hcloud.context = \"<name>\" in the plan, HCLOUD_CONTEXT, or the CLI's active context\n"
        "  3. run 'khz-tui PLAN' without --apply: the wizard asks for the token (it is not saved in the plan);\n"
        f"     tick 'Save it on this machine' there to keep it in {saved} (readable by you only) for later runs\n"
        "Create a token in the Hetzner Cloud Console: your project > Security > API tokens (Read & Write)."
    )


def _cli_context_token(
    plan: ClusterPlan, env: Mapping[str, str], home: Path | None, tried: list[str]
) -> tuple[str, str] | None:
    """The token of the selected hcloud CLI context; None (noted in `tried`) when the file or a selection
    is missing. A context that is named but absent or empty is an error, never silently skipped."""
    path = cli_config_path(env, home)
    config = _read_cli_config(path)
    if config is None:
        tried.append(f"hcloud CLI config {path} (not found)")
        return None

    contexts = {c["name"]: c for c in _contexts(config)}
    if plan.hcloud.context:
        name, chosen_by = plan.hcloud.context, "the plan's hcloud.context"
    elif env.get("HCLOUD_CONTEXT"):
        name, chosen_by = env["HCLOUD_CONTEXT"], "HCLOUD_CONTEXT"
    elif isinstance(config.get("active_context"), str) and config["active_context"]:
        name, chosen_by = config["active_context"], "the active context"
    else:
        tried.append(f"hcloud CLI config {path} (no context selected: no active_context)")
        return None

    context = contexts.get(name)
    if context is None:
        known = ", ".join(contexts) or "none"
        raise CredentialsError(
            f"{chosen_by} names the hcloud CLI context {name!r}, but {path} has no such context "
            f"(contexts there: {known}). Create it with 'hcloud context create {name}' or choose another."
        )
    token = context.get("token")
    if not isinstance(token, str) or not token.strip():
        raise CredentialsError(f"the hcloud CLI context {name!r} in {path} has no token; "
                               f"recreate it with 'hcloud context create {name}'")
    return token.strip(), f"hcloud CLI context {name!r}"


def resolve_token(
    plan: ClusterPlan,
    options: RunOptions,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> tuple[str, str]:
    """Return (token, where it came from), e.g. (..., "environment variable HCLOUD_TOKEN"), following
    the module's order: environment variable, hcloud CLI context, the token saved by the wizard.

    `environ` and `home` stand in for the process's own (tests). Raises CredentialsError naming
    what was tried and the ways to give a token.
    """
    env = _environ(environ)
    var = options.token_env or plan.hcloud.token_env
    tried = [f"environment variable {var}"]
    token = (env.get(var) or "").strip()
    if token:
        return token, f"environment variable {var}"

    found = _cli_context_token(plan, env, home, tried)
    if found is not None:
        return found

    saved = saved_token_path(environ, home)
    saved_token = load_saved_token(environ, home)
    if saved_token:
        return saved_token, f"the token saved by the wizard ({saved})"
    tried.append(f"saved token {saved} (none saved)")
    raise CredentialsError(_no_token_message(var, tried, saved))


def resolve_endpoint(plan: ClusterPlan, options: RunOptions, *, environ: Mapping[str, str] | None = None) -> str:
    """API base URL: --endpoint, else HCLOUD_ENDPOINT (as the hcloud CLI reads it), else the plan, else Hetzner."""
    env = _environ(environ)
    return (options.endpoint or env.get("HCLOUD_ENDPOINT") or plan.hcloud.endpoint or DEFAULT_ENDPOINT).rstrip("/")
