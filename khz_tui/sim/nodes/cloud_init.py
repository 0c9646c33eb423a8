"""First-boot configuration from `user_data`, the way cloud-init applies it on a Hetzner image.

Two stages, as on a real machine: the init stage (host keys, authorized keys, write_files, hostname)
runs before sshd starts, so a host key given in `ssh_keys` is the key the first SSH connection sees;
the final stage (`runcmd`) runs after sshd is up, so `cloud-init status --wait` has something to wait
for. Invalid cloud-config is never silently accepted: YAML that does not parse, a top level that is
not a mapping, or a known key with the wrong type make the status `error` (exit 1); an unknown
top-level key makes it `degraded` (exit 2, cloud-init 23.4+); a failing runcmd makes it `error`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
from dataclasses import dataclass, field
from typing import Any

import yaml

from khz_tui.sim.nodes.filesystem import FsError
from khz_tui.sim.nodes.machine import Machine

CLOUD_INIT_VERSION = "24.4"

# Top-level keys and the Python types cloud-init's schema allows for them. The ones with effect
# here are handled below (`packages` through `sim.nodes.packages`); the others are accepted and ignored.
_KNOWN_KEYS: dict[str, tuple[type, ...]] = {
    "ssh_keys": (dict,), "ssh_deletekeys": (bool,), "ssh_authorized_keys": (list,),
    "users": (list, str, dict), "write_files": (list,), "runcmd": (list,), "bootcmd": (list,),
    "hostname": (str,), "fqdn": (str,), "preserve_hostname": (bool,), "manage_etc_hosts": (bool, str),
    "packages": (list,), "package_update": (bool,), "package_upgrade": (bool,),
    "package_reboot_if_required": (bool,), "apt": (dict,), "timezone": (str,), "locale": (str, bool),
    "ssh_pwauth": (bool, str), "disable_root": (bool,), "disable_root_opts": (str,),
    "ssh_genkeytypes": (list,), "allow_public_ssh_keys": (bool,), "ssh_quiet_keygen": (bool,),
    "chpasswd": (dict,), "final_message": (str,), "growpart": (dict,), "resize_rootfs": (bool, str),
    "ntp": (dict, type(None)), "groups": (list, dict, str), "power_state": (dict,),
    "ssh_publish_hostkeys": (dict,), "mounts": (list,), "swap": (dict,),
}

_HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")


@dataclass
class CloudConfig:
    """A parsed user_data: the cloud-config mapping or a shell script, and what was wrong with it."""

    config: dict[str, Any] = field(default_factory=dict)
    script: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _list(config: dict[str, Any], key: str) -> list[Any]:
    value = config.get(key)
    return value if isinstance(value, list) else []


def _check_types(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    for key, value in config.items():
        allowed = _KNOWN_KEYS.get(key)
        if allowed is None:
            warnings.append(f"Additional properties are not allowed ('{key}' was unexpected)")
        elif not isinstance(value, allowed):
            errors.append(f"{key}: {value!r} is not of type {'/'.join(t.__name__ for t in allowed)}")
    keys = config.get("ssh_keys")
    if isinstance(keys, dict):
        for k, v in keys.items():
            if not isinstance(v, str):
                errors.append(f"ssh_keys.{k}: {v!r} is not of type string")
    for i, entry in enumerate(_list(config, "write_files")):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            errors.append(f"write_files.{i}: 'path' is a required property")
            continue
        if "content" in entry and not isinstance(entry["content"], (str, bytes)):
            errors.append(f"write_files.{i}.content: is not of type string")
        perms = entry.get("permissions")
        if perms is not None and not isinstance(perms, (str, int)):
            errors.append(f"write_files.{i}.permissions: is not of type string")
    for i, cmd in enumerate(_list(config, "runcmd")):
        if not isinstance(cmd, (str, list)) or (isinstance(cmd, list)
                                                and not all(isinstance(a, str) for a in cmd)):
            errors.append(f"runcmd.{i}: {cmd!r} is not of type string/array of strings")
    for i, key in enumerate(_list(config, "ssh_authorized_keys")):
        if not isinstance(key, str):
            errors.append(f"ssh_authorized_keys.{i}: {key!r} is not of type string")
    return errors, warnings


def parse_user_data(user_data: str | None) -> CloudConfig:
    """Read user_data as cloud-init would: `#cloud-config` YAML, a `#!` script, or nothing."""
    if not user_data or not user_data.strip():
        return CloudConfig()
    if user_data.startswith("#!"):
        return CloudConfig(script=user_data)
    first_line = user_data.splitlines()[0].strip()
    if first_line != "#cloud-config":
        return CloudConfig(errors=[f"Unhandled non-multipart userdata starting with {first_line[:40]!r}"])
    try:
        config = yaml.safe_load(user_data)
    except yaml.YAMLError as exc:
        return CloudConfig(errors=[f"Failed loading yaml blob. Invalid format: {exc}"])
    if config is None:
        return CloudConfig()
    if not isinstance(config, dict):
        return CloudConfig(errors=[f"Cloud config schema errors: top level is a "
                                   f"{type(config).__name__}, not a mapping"])
    errors, warnings = _check_types(config)
    return CloudConfig(config=config, errors=errors, warnings=warnings)


def _permissions(value: Any) -> int:
    # cloud-init takes an integer as is (YAML 1.1 already read 0644 as octal) and a string as octal.
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def _decode_content(entry: dict[str, Any]) -> bytes:
    content = entry.get("content", "")
    data = content.encode() if isinstance(content, str) else content
    encoding = str(entry.get("encoding", "text/plain")).lower()
    if encoding in ("b64", "base64"):
        return base64.b64decode(data, validate=False)
    if encoding in ("gz", "gzip"):
        return gzip.decompress(data)
    if encoding in ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
        return gzip.decompress(base64.b64decode(data))
    return data


def apply_init_stage(machine: Machine, parsed: CloudConfig) -> list[str]:
    """Host keys, authorized keys, users and write_files; returns the errors met (not raised)."""
    fs = machine.fs
    config = parsed.config
    errors: list[str] = []
    keys: dict[str, Any] = config["ssh_keys"] if isinstance(config.get("ssh_keys"), dict) else {}
    if config.get("ssh_deletekeys", True):
        for name in list(fs.listdir("/etc/ssh")):
            if name.startswith("ssh_host_"):
                fs.remove(f"/etc/ssh/{name}")
    for kind in _HOST_KEY_TYPES:
        private = keys.get(f"{kind}_private")
        if private:
            fs.write(f"/etc/ssh/ssh_host_{kind}_key", private.encode(), mode=0o600)
            public = keys.get(f"{kind}_public")
            if public:
                fs.write(f"/etc/ssh/ssh_host_{kind}_key.pub", public.strip().encode() + b"\n")
    if not any(n.startswith("ssh_host_") and n.endswith("_key") for n in fs.listdir("/etc/ssh")):
        machine.generate_host_key()

    root_keys = list(machine.spec.authorized_keys) + [
        k for k in _list(config, "ssh_authorized_keys") if isinstance(k, str)]
    users = config.get("users")
    for user in users if isinstance(users, list) else []:
        if not isinstance(user, dict):
            continue
        name = str(user.get("name", "root"))
        user_keys = [k for k in user.get("ssh_authorized_keys") or [] if isinstance(k, str)]
        if name == "root":
            root_keys += user_keys
        elif user_keys:
            home = f"/home/{name}"
            fs.mkdir(f"{home}/.ssh", parents=True, mode=0o700)
            fs.write(f"{home}/.ssh/authorized_keys", "".join(k.strip() + "\n" for k in user_keys).encode(),
                     mode=0o600)
    if root_keys:
        fs.write("/root/.ssh/authorized_keys", "".join(k.strip() + "\n" for k in root_keys).encode(),
                 mode=0o600, append=True)

    fs.write("/etc/hostname", f"{config.get('hostname') or machine.spec.name}\n".encode())
    for i, entry in enumerate(_list(config, "write_files")):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        try:
            data = _decode_content(entry)
            mode = _permissions(entry["permissions"]) if "permissions" in entry else 0o644
            path = entry["path"]
            fs.mkdir(path.rsplit("/", 1)[0] or "/", parents=True)
            fs.write(path, data, mode=mode, append=bool(entry.get("append")))
        except (ValueError, binascii.Error, OSError, FsError) as exc:
            errors.append(f"write_files.{i}: {exc}")
    return errors


def runcmd_script(config: dict[str, Any]) -> str:
    """The runcmd list as one shell script (a list entry is quoted word by word, like cloud-init)."""
    lines = []
    for cmd in _list(config, "runcmd"):
        if isinstance(cmd, list):
            lines.append(" ".join("'" + a.replace("'", "'\\''") + "'" for a in cmd))
        elif isinstance(cmd, str):
            lines.append(cmd)
    return "\n".join(lines)


def package_names(config: dict[str, Any]) -> list[str]:
    """`packages:` entries as apt names (an entry may be `[name, version]`)."""
    names = []
    for entry in _list(config, "packages"):
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, list) and entry and isinstance(entry[0], str):
            names.append(entry[0])
    return names
