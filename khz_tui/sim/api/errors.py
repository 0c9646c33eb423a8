"""Hetzner's error envelope: `{"error": {"code", "message", "details"}}` with the official status codes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# Official code -> HTTP status: the spec's table of common errors ("Error Codes" in its overview), then
# the operation-specific codes the simulator answers, each from that operation's "Operation specific
# errors" table in the spec.
STATUS = {
    "unauthorized": 401,
    "token_readonly": 401,
    "forbidden": 403,
    "resource_limit_exceeded": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "uniqueness_error": 409,
    "conflict": 409,
    "resource_unavailable": 412,
    "invalid_input": 422,
    "json_error": 400,
    "service_error": 422,
    "placement_error": 422,
    "resource_in_use": 422,
    "server_already_attached": 422,
    "server_not_attached": 422,
    "no_subnet_available": 422,
    "ip_not_available": 422,
    "locked": 423,
    "protected": 423,
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "unavailable": 503,
    "timeout": 504,
    # POST /firewalls, its apply_to_resources and remove_from_resources
    "server_already_added": 422,
    "firewall_resource_not_found": 404,
    "firewall_already_applied": 422,
    "private_net_only_server": 422,
    "firewall_managed_by_label_selector": 422,
    # POST /load_balancers and POST /load_balancers/{id}/actions/add_target
    "resolve_cloud_private_targets_error": 422,
    "resolve_cloud_public_targets_error": 422,
    "load_balancer_not_attached_to_network": 422,
    "target_already_defined": 422,
}


class ApiError(Exception):
    """Raised by handlers; the app turns it into the official envelope and status."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.status = status or STATUS.get(code, 400)

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        """The JSON response a client sees for this error."""
        return error_response(self.code, self.message, self.details, status=self.status, headers=headers)


def error_response(
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Build an error response in the official envelope."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.json_response(body, status=status or STATUS.get(code, 400), headers=headers)


def invalid_input(fields: dict[str, str], message: str = "invalid input in fields") -> ApiError:
    """`invalid_input` with `details.fields[{name, messages}]`, as clients display it."""
    names = ", ".join(sorted(fields))
    return ApiError(
        "invalid_input",
        f"{message} '{names}'",
        {"fields": [{"name": name, "messages": [msg]} for name, msg in fields.items()]},
    )


def uniqueness_error(field: str, message: str | None = None) -> ApiError:
    """`uniqueness_error` naming the field that must be unique."""
    return ApiError(
        "uniqueness_error",
        message or f"{field} is already used",
        {"fields": [{"name": field, "messages": [f"{field} is already used"]}]},
    )


def not_found(kind: str, ident: object) -> ApiError:
    """`not_found` for a resource id or name."""
    return ApiError("not_found", f"{kind} with ID '{ident}' not found")


def locked(kind: str, ident: int) -> ApiError:
    """`locked`: an action is still running on the resource."""
    return ApiError("locked", f"{kind} {ident} is locked: an action is already running on this resource")
