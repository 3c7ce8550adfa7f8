"""The shipped 5G site catalog (``fjsense/cells.yaml``), laid out by this script: illustrative
base stations on a hexagonal grid around each of Fuzhou's 13 districts' and counties' centres,
at the inter-site distances of dense urban (400 m), urban (700 m) and suburban or rural (1.2 km)
5G, three sectors each. Positions are not real sites (operators do not publish theirs).

``python -m kinds.cells.sites > fjsense/cells.yaml`` writes it again.
"""

from __future__ import annotations

import math
import random

# district: (lat, lon of its centre, sites, inter-site distance in m, band)
DISTRICTS: dict[str, tuple[float, float, int, float, str]] = {
    "gulou": (26.0823, 119.2980, 37, 400.0, "n78"),
    "taijiang": (26.0530, 119.3150, 30, 400.0, "n78"),
    "cangshan": (26.0190, 119.3230, 30, 450.0, "n78"),
    "jinan": (26.0850, 119.3400, 24, 500.0, "n78"),
    "mawei": (25.9900, 119.4580, 19, 700.0, "n41"),
    "changle": (25.9630, 119.5230, 19, 700.0, "n41"),
    "fuqing": (25.7200, 119.3840, 19, 700.0, "n41"),
    "minhou": (26.1500, 119.1310, 19, 1200.0, "n41"),
    "lianjiang": (26.1970, 119.5390, 12, 1200.0, "n41"),
    "luoyuan": (26.4890, 119.5490, 12, 1200.0, "n28"),
    "minqing": (26.2210, 118.8630, 12, 1200.0, "n28"),
    "yongtai": (25.8660, 118.9390, 12, 1200.0, "n28"),
    "pingtan": (25.5030, 119.7910, 12, 1200.0, "n41"),
}
M_PER_DEG_LAT = 111_320.0


def hex_grid(count: int) -> list[tuple[float, float]]:
    """The first ``count`` points of a hexagonal grid of unit spacing, ring by ring."""
    points = [(0.0, 0.0)]
    ring = 1
    while len(points) < count:
        corners = [(math.cos(math.pi / 3 * k), math.sin(math.pi / 3 * k)) for k in range(7)]
        for k in range(6):
            for step in range(ring):
                a, b = corners[k], corners[k + 1]
                points.append((ring * a[0] + step * (b[0] - a[0]),
                               ring * a[1] + step * (b[1] - a[1])))
        ring += 1
    return points[:count]


def sites_yaml() -> str:
    rnd = random.Random(2026)
    lines = ["# 5G base stations (kind cell) of Fuzhou's 13 districts and counties: illustrative",
             "# positions laid out by kinds/cells/sites.py (do not edit by hand). Each",
             "# cell (sector) is a device: its id is its MQTT login for kind cell (KPIs) and",
             "# kind mr (measurement reports).", "sites:"]
    for district, (lat, lon, count, isd, band) in DISTRICTS.items():
        for n, (x, y) in enumerate(hex_grid(count), start=1):
            jitter = 0.15 * isd
            east = x * isd + rnd.uniform(-jitter, jitter)
            north = y * isd + rnd.uniform(-jitter, jitter)
            site_lat = lat + north / M_PER_DEG_LAT
            site_lon = lon + east / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
            site = f"fz-{district}-{n:03d}"
            offset = rnd.randrange(0, 120, 10)
            height = 25 if isd < 600 else 35
            lines += [f"  - id: {site}",
                      f"    name: {district.capitalize()} 5G site {n}",
                      "    kind: cell", "    region: fuzhou", f"    district: {district}",
                      f"    lat: {site_lat:.5f}", f"    lon: {site_lon:.5f}",
                      f"    height_m: {height}", "    devices:"]
            lines += [f"      - {{id: {site}-c{k + 1}, azimuth_deg: {(offset + 120 * k) % 360},"
                      f" band: {band}}}" for k in range(3)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(sites_yaml(), end="")
