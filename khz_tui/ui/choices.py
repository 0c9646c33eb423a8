"""Select options drawn from the catalog: what Hetzner offers, described the way a person compares it."""

from __future__ import annotations

from khz_tui.plan.catalog import Catalog


def server_type_options(catalog: Catalog, location: str) -> list[tuple[str, str]]:
    """`cpx22   3 vCPU   4 GB  80 GB x86   7.99/mo`, cheapest first, deprecated types left out."""
    rows = []
    for st in catalog.server_types.values():
        if st.deprecated:
            continue
        price = st.prices.get(location)
        shown = f"{price.monthly:7.2f}/mo" if price else "  not here"
        label = f"{st.name:<6}{st.cores:>3} vCPU{st.memory_gb:>4g} GB{st.disk_gb:>4} GB {st.architecture:<3}{shown}"
        rows.append((price.monthly if price else 10**6, st.name, label))
    return [(label, name) for _price, name, label in sorted(rows)]


def location_options(catalog: Catalog) -> list[tuple[str, str]]:
    return [
        (f"{loc.name}  {loc.city}, {loc.country} ({loc.network_zone})", loc.name) for loc in catalog.locations.values()
    ]


def zone_options(catalog: Catalog) -> list[tuple[str, str]]:
    return [(f"{zone}  ({', '.join(catalog.zone_locations(zone))})", zone) for zone in catalog.zones()]


def lb_type_options(catalog: Catalog, location: str) -> list[tuple[str, str]]:
    out = []
    for lbt in catalog.load_balancer_types.values():
        price = lbt.prices.get(location)
        shown = f"{price.monthly:.2f}/mo" if price else "not here"
        out.append((f"{lbt.name}  up to {lbt.max_targets} targets  {shown}", lbt.name))
    return out


def with_current(options: list[tuple[str, str]], value: object) -> list[tuple[str, str]]:
    """Keep a value the catalog does not know (from a plan file) selectable, so its problem can show."""
    if isinstance(value, str) and value and value not in {v for _label, v in options}:
        return [*options, (f"{value}  (not offered by Hetzner)", value)]
    return options
