"""Vendor the response schemas of the endpoints the simulator serves, as plain JSON Schema.

    python tests/sim/spec/extract_schemas.py SPEC_PATH OUT_DIR

SPEC_PATH is Hetzner's public OpenAPI 3.0 document for the Cloud API (published with the API
reference at https://docs.hetzner.cloud/, "cloud.spec.json"). OUT_DIR receives, for each
(method, path) in `ENDPOINTS`:

- one file per documented 2xx status with a body: that response's schema, converted to standalone
  JSON Schema (Draft 2020-12), so the tests never need the multi-megabyte spec;
- `error.json`: the error envelope every 4xx/5xx response shares (the script checks that it is the
  same schema on every endpoint it extracts);
- `error_codes.json`: the table of error codes and their HTTP status from the spec's introduction;
- `index.json`: `"METHOD /path"` -> `{"status": "200", "schema": "file.json" | null}` (null for a
  204 without a body), plus the spec's title and version.

Conversion from OpenAPI 3.0 schema objects:
- `$ref` to `#/components/...` is inlined (cycles are refused);
- `nullable: true` becomes a `"null"` member of `type` (and of `enum` when there is one); without a
  `type` (an `allOf`/`oneOf`), the schema becomes `anyOf: [{"type": "null"}, <schema>]`;
- `additionalProperties`, `required`, `enum`, `minimum`/`maximum`, `pattern`, `format`... are kept as
  the spec states them (OpenAPI and JSON Schema mean the same by them);
- OpenAPI-only keywords without a JSON Schema meaning are dropped: `discriminator` (the `oneOf`
  branches already tell the variants apart), `example`, `xml`, `externalDocs`, `x-*` extensions;
  `description` is dropped too, to keep the vendored files small.

Run it again after the simulator gains an endpoint; `test_response_schemas.py` fails while a served
endpoint has no vendored schema.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# (method, path) the simulator serves, as the spec spells the paths.
ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/actions"),
    ("GET", "/actions/{id}"),
    ("GET", "/servers"),
    ("POST", "/servers"),
    ("GET", "/servers/{id}"),
    ("PUT", "/servers/{id}"),
    ("DELETE", "/servers/{id}"),
    ("GET", "/servers/actions"),
    ("GET", "/servers/actions/{id}"),
    ("GET", "/servers/{id}/actions"),
    ("GET", "/servers/{id}/actions/{action_id}"),
    ("POST", "/servers/{id}/actions/poweron"),
    ("POST", "/servers/{id}/actions/poweroff"),
    ("POST", "/servers/{id}/actions/shutdown"),
    ("POST", "/servers/{id}/actions/reboot"),
    ("POST", "/servers/{id}/actions/reset"),
    ("POST", "/servers/{id}/actions/attach_to_network"),
    ("POST", "/servers/{id}/actions/detach_from_network"),
    ("GET", "/networks"),
    ("POST", "/networks"),
    ("GET", "/networks/{id}"),
    ("PUT", "/networks/{id}"),
    ("DELETE", "/networks/{id}"),
    ("GET", "/networks/actions"),
    ("GET", "/networks/actions/{id}"),
    ("GET", "/networks/{id}/actions"),
    ("GET", "/networks/{id}/actions/{action_id}"),
    ("POST", "/networks/{id}/actions/add_subnet"),
    ("POST", "/networks/{id}/actions/delete_subnet"),
    ("POST", "/networks/{id}/actions/add_route"),
    ("POST", "/networks/{id}/actions/delete_route"),
    ("GET", "/ssh_keys"),
    ("POST", "/ssh_keys"),
    ("GET", "/ssh_keys/{id}"),
    ("PUT", "/ssh_keys/{id}"),
    ("DELETE", "/ssh_keys/{id}"),
    ("GET", "/firewalls"),
    ("POST", "/firewalls"),
    ("GET", "/firewalls/{id}"),
    ("PUT", "/firewalls/{id}"),
    ("DELETE", "/firewalls/{id}"),
    ("GET", "/firewalls/actions"),
    ("GET", "/firewalls/actions/{id}"),
    ("GET", "/firewalls/{id}/actions"),
    ("GET", "/firewalls/{id}/actions/{action_id}"),
    ("POST", "/firewalls/{id}/actions/set_rules"),
    ("POST", "/firewalls/{id}/actions/apply_to_resources"),
    ("POST", "/firewalls/{id}/actions/remove_from_resources"),
    ("GET", "/placement_groups"),
    ("POST", "/placement_groups"),
    ("GET", "/placement_groups/{id}"),
    ("PUT", "/placement_groups/{id}"),
    ("DELETE", "/placement_groups/{id}"),
    ("GET", "/volumes"),
    ("POST", "/volumes"),
    ("GET", "/volumes/{id}"),
    ("PUT", "/volumes/{id}"),
    ("DELETE", "/volumes/{id}"),
    ("GET", "/volumes/actions"),
    ("GET", "/volumes/actions/{id}"),
    ("GET", "/volumes/{id}/actions"),
    ("GET", "/volumes/{id}/actions/{action_id}"),
    ("POST", "/volumes/{id}/actions/attach"),
    ("POST", "/volumes/{id}/actions/detach"),
    ("GET", "/load_balancers"),
    ("POST", "/load_balancers"),
    ("GET", "/load_balancers/{id}"),
    ("PUT", "/load_balancers/{id}"),
    ("DELETE", "/load_balancers/{id}"),
    ("GET", "/load_balancers/actions"),
    ("GET", "/load_balancers/actions/{id}"),
    ("GET", "/load_balancers/{id}/actions"),
    ("GET", "/load_balancers/{id}/actions/{action_id}"),
    ("POST", "/load_balancers/{id}/actions/add_service"),
    ("POST", "/load_balancers/{id}/actions/delete_service"),
    ("POST", "/load_balancers/{id}/actions/add_target"),
    ("POST", "/load_balancers/{id}/actions/remove_target"),
    ("POST", "/load_balancers/{id}/actions/attach_to_network"),
    ("POST", "/load_balancers/{id}/actions/detach_from_network"),
    ("GET", "/server_types"),
    ("GET", "/server_types/{id}"),
    ("GET", "/locations"),
    ("GET", "/locations/{id}"),
    ("GET", "/datacenters"),
    ("GET", "/datacenters/{id}"),
    ("GET", "/images"),
    ("GET", "/images/{id}"),
    ("GET", "/load_balancer_types"),
    ("GET", "/load_balancer_types/{id}"),
    ("GET", "/pricing"),
]

DROPPED_KEYWORDS = {"discriminator", "example", "xml", "externalDocs", "description", "nullable"}
# Keywords whose value is a map of name -> schema, a list of schemas, or one schema.
SCHEMA_MAPS = {"properties", "patternProperties"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
SCHEMA_SINGLE = {"items", "not", "additionalProperties"}


class SpecError(Exception):
    """The spec is not what this script expects (a missing endpoint, a cyclic $ref...)."""


def resolve_ref(spec: dict[str, Any], ref: str) -> Any:
    """The object a local JSON pointer (`#/components/schemas/X`) names."""
    if not ref.startswith("#/"):
        raise SpecError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"dangling $ref {ref!r}")
        node = node[part]
    return node


def to_json_schema(spec: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 schema object as a JSON Schema (2020-12) schema, $refs inlined."""
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise SpecError(f"a schema must be an object, got {node!r}")
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise SpecError(f"cyclic $ref {ref!r} cannot be inlined")
        return to_json_schema(spec, resolve_ref(spec, ref), (*seen, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED_KEYWORDS or key.startswith("x-"):
            continue
        if key in SCHEMA_MAPS:
            out[key] = {name: to_json_schema(spec, sub, seen) for name, sub in value.items()}
        elif key in SCHEMA_LISTS:
            out[key] = [to_json_schema(spec, sub, seen) for sub in value]
        elif key in SCHEMA_SINGLE:
            out[key] = to_json_schema(spec, value, seen)
        else:
            out[key] = value  # enum, required, type, format, bounds, pattern, default, title...
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _json_schema_of(response: dict[str, Any], where: str) -> dict[str, Any] | None:
    content = response.get("content")
    if not content:
        return None
    if "application/json" not in content or "schema" not in content["application/json"]:
        raise SpecError(f"{where}: no application/json schema")
    return content["application/json"]["schema"]


def file_name(method: str, path: str, status: str) -> str:
    """`GET /servers/{id}/actions` 200 -> `get_servers_id_actions_200.json`."""
    words = re.sub(r"[^a-z0-9_]+", "_", path.lower()).strip("_")
    return f"{method.lower()}_{words}_{status}.json"


def standalone(schema: Any, title: str) -> dict[str, Any]:
    """A converted schema made a document of its own."""
    return {"$schema": JSON_SCHEMA_DIALECT, "$comment": title, **schema}


def error_codes(spec: dict[str, Any]) -> dict[str, int]:
    """The `| status | code | description |` table of the spec's introduction."""
    codes: dict[str, int] = {}
    for status, code in re.findall(r"^\|\s*`(\d{3})`\s*\|\s*`([a-z_]+)`\s*\|", spec["info"].get("description", ""), re.M):
        codes[code] = int(status)
    if "not_found" not in codes or "invalid_input" not in codes:
        raise SpecError("the error code table was not found in info.description")
    return codes


def extract(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write every schema file and the index; return the index."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    info = spec.get("info", {})
    source = f"{info.get('title', 'OpenAPI')} {info.get('version', '')}".strip()
    index: dict[str, Any] = {"source": source, "openapi": spec.get("openapi"), "endpoints": {}}
    envelope: Any = None
    for method, path in ENDPOINTS:
        where = f"{method} {path}"
        operation = spec.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            raise SpecError(f"{where} is not in the spec")
        success = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        if len(success) != 1:
            raise SpecError(f"{where}: expected exactly one 2xx response, got {sorted(success)}")
        ((status, response),) = success.items()
        schema = _json_schema_of(response, where)
        entry: dict[str, Any] = {"status": int(status), "schema": None}
        if schema is not None:
            entry["schema"] = file_name(method, path, status)
            converted = standalone(to_json_schema(spec, schema), f"{where} {status} ({source})")
            (out_dir / entry["schema"]).write_text(json.dumps(converted, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        for status_key in ("4xx", "5xx"):
            error_schema = _json_schema_of(operation["responses"].get(status_key, {}), f"{where} {status_key}")
            if error_schema is None:
                raise SpecError(f"{where}: no {status_key} error schema")
            converted_error = to_json_schema(spec, error_schema)
            if envelope is None:
                envelope = converted_error
            elif converted_error != envelope:
                raise SpecError(f"{where} {status_key}: the error envelope differs from the other endpoints'")
        index["endpoints"][where] = entry
    (out_dir / "error.json").write_text(
        json.dumps(standalone(envelope, f"error envelope of 4xx/5xx responses ({source})"), indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    index["error_codes"] = error_codes(spec)
    (out_dir / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return index


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    if not str(spec.get("openapi", "")).startswith("3.0"):
        print(f"expected an OpenAPI 3.0 document, got openapi={spec.get('openapi')!r}", file=sys.stderr)
        return 2
    try:
        index = extract(spec, Path(argv[2]))
    except SpecError as exc:
        print(f"extract_schemas: {exc}", file=sys.stderr)
        return 1
    print(f"{len(index['endpoints'])} endpoints, {len(index['error_codes'])} error codes -> {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
