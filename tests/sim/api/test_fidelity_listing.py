"""List responses as Hetzner's spec describes them: `Link` header, `sort` values, label selectors.

Probed over raw HTTP; each test quotes the spec's overview section it follows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from khz_tui.sim.simulator import Simulator


def get(sim: Simulator, path: str, params: Any = None) -> requests.Response:
    return requests.get(f"{sim.endpoint}{path}", params=params, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10)


def links(response: requests.Response) -> dict[str, str]:
    """rel -> URL from a `Link` header."""
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers.get("Link", ""))}


def make_placement_groups(sim: Simulator, count: int) -> None:
    for n in range(count):
        body = {"name": f"pg-{n}", "type": "spread", "labels": {"batch": "a"}}
        response = requests.post(f"{sim.endpoint}/placement_groups", json=body, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10)
        assert response.status_code == 201, response.text


# ---- row 16: Link header ----------------------------------------------------------------------------


def test_link_header_has_prev_next_last_from_the_requests_own_url(api_sim_thread: Simulator) -> None:
    """Overview, "Pagination": "Responses contain a `Link` header with pagination information", e.g.
    `<https://api.hetzner.cloud/v1/actions?page=2&per_page=5>; rel="prev", <...?page=4&per_page=5>;
    rel="next", <...?page=6&per_page=5>; rel="last"`: absolute URLs of the same request, other
    page."""
    make_placement_groups(api_sim_thread, 7)
    query = {"page": "2", "per_page": "2", "label_selector": "batch=a", "sort": ["name:desc", "id"]}
    response = get(api_sim_thread, "/placement_groups", query)
    assert response.status_code == 200
    found = links(response)
    assert sorted(found) == ["last", "next", "prev"]
    for rel, page in (("prev", "1"), ("next", "3"), ("last", "4")):
        url = urlsplit(found[rel])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{api_sim_thread.endpoint}/placement_groups"
        assert parse_qs(url.query) == {**{k: [v] if isinstance(v, str) else v for k, v in query.items()}, "page": [page]}


def test_link_header_only_has_the_rels_that_exist(api_sim_thread: Simulator) -> None:
    """"responses may only contain some of the above `rel` values": no `prev` on the first page, no
    `next` on the last."""
    make_placement_groups(api_sim_thread, 3)
    assert sorted(links(get(api_sim_thread, "/placement_groups", {"per_page": "2"}))) == ["last", "next"]
    assert sorted(links(get(api_sim_thread, "/placement_groups", {"per_page": "2", "page": "2"}))) == ["last", "prev"]
    only = links(get(api_sim_thread, "/placement_groups"))
    assert sorted(only) == ["last"] and parse_qs(urlsplit(only["last"]).query) == {"page": ["1"]}


LISTS = [
    "/servers", "/networks", "/load_balancers", "/volumes", "/firewalls", "/ssh_keys", "/placement_groups",
    "/server_types", "/locations", "/images", "/load_balancer_types",
    "/datacenters", "/actions?id=1", "/servers/actions?id=1",
]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_carries_a_link_header(api_sim_thread: Simulator, path: str) -> None:
    """"Responses which return multiple items support pagination. ... Responses contain a `Link`
    header with pagination information." """
    response = get(api_sim_thread, path)
    assert response.status_code == 200 and "last" in links(response)


# ---- row 17: sort values and label selector values -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "sort"),
    [
        ("/networks", "id:sideways"),
        ("/networks", "id:"),
        ("/networks", "id:ASC"),
        ("/servers", "name:desc:asc"),
        # `GET /ssh_keys` sort enum: id, id:asc, id:desc, name, name:asc, name:desc (no `created`)
        ("/ssh_keys", "created"),
        ("/locations", "created:desc"),
    ],
)
def test_sort_outside_the_spec_enum_is_invalid_input(api_sim_thread: Simulator, path: str, sort: str) -> None:
    """Overview, "Sorting": "You can set the sort direction by appending `:asc` or `:desc` to the field
    name." The `sort` parameter of each list is an enum, e.g. `GET /networks`: "id", "id:asc",
    "id:desc", "name", ..., "created:desc"."""
    response = get(api_sim_thread, path, {"sort": ["name", sort]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and [f["name"] for f in error["details"]["fields"]] == ["sort"]


@pytest.mark.parametrize("path", ["/actions?id=1", "/servers/actions?id=1", "/networks/{id}/actions"])
def test_action_lists_sort_by_their_own_enum(api_sim_thread: Simulator, path: str) -> None:
    """`GET /actions` and the per-resource action lists take `sort` from "id", "command", "status",
    "started", "finished" (each with `:asc`/`:desc`); a list field such as `name` is outside it."""
    body = {"name": "net", "ip_range": "10.0.0.0/16"}
    created = requests.post(f"{api_sim_thread.endpoint}/networks", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {api_sim_thread.token}"})
    assert created.status_code == 201, created.text
    path = path.format(id=created.json()["network"]["id"])
    assert get(api_sim_thread, path, {"sort": "command:desc"}).status_code == 200
    response = get(api_sim_thread, path, {"sort": "name"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"


def test_sort_inside_the_enum_orders_the_list(api_sim_thread: Simulator) -> None:
    """"You can sort by multiple fields. ... By default, ascending sorting is used." """
    make_placement_groups(api_sim_thread, 3)
    names = lambda params: [g["name"] for g in get(api_sim_thread, "/placement_groups", params).json()["placement_groups"]]  # noqa: E731
    assert names({"sort": "name:desc"}) == ["pg-2", "pg-1", "pg-0"]
    assert names({"sort": "id"}) == names({"sort": "id:asc"}) == ["pg-0", "pg-1", "pg-2"]
    assert get(api_sim_thread, "/ssh_keys", {"sort": "name:asc"}).status_code == 200
    assert get(api_sim_thread, "/placement_groups", {"sort": "name:sideways"}).status_code == 422


@pytest.mark.parametrize(
    ("bad", "good"),
    [
        ("batch=*", "batch=a"),
        ("batch==a*", "batch==a"),
        ("batch!=*", "batch!="),
        ("batch in (a,*)", "batch in (a,b-c.d_e)"),
        ("batch notin (-a)", "batch notin (a)"),
    ],
)
def test_selector_value_that_is_no_label_value_is_invalid_input(api_sim_thread: Simulator, bad: str, good: str) -> None:
    """Overview, "Labels": "Valid label values must be a string of 63 characters or less and must be
    empty or begin and end with an alphanumeric character (`[a-z0-9A-Z]`) with dashes (`-`),
    underscores (`_`), dots (`.`), and alphanumerics between." A selector value outside that (a `*`
    hoping for a wildcard) is an input error, not an empty list; the same selector with a valid
    value is fine."""
    response = get(api_sim_thread, "/placement_groups", {"label_selector": bad})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
    assert get(api_sim_thread, "/placement_groups", {"label_selector": good}).status_code == 200
