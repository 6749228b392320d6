"""Site and point catalog model: what `/sites`, `/points` and the timeseries serve.

`SiteSpec` describes a site (its points as `PointSpec`s, or just a point count for
synthetic sites); `Site` is the served model built from it. Tests use `Site.samples()` to
compute the expected archive independently of any HTTP client.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator

import numpy as np

from bv_sim.point_faults import MINUTE_US, PointFault, dead_windows, time_us
from bv_sim.signals import PointParams, fault_text, stable_seed, values
from bv_sim.timeseries import Pager, Schedule, format_time_us, time_strings, to_us

CREATED = "2023-04-12T16:20:11.482913"
UPDATED = "2025-01-06T09:03:54.120877"
_CREATED_US = to_us(datetime.fromisoformat(CREATED))
_UPDATED_US = to_us(datetime.fromisoformat(UPDATED))
_CREATED_SPREAD_US = 400 * 86_400 * 1_000_000  # points were added over ~13 months after the site


def client_id_for(client: str) -> int:
    """The numeric id of a client name (stable across processes; every site of a client shares it)."""
    return zlib.crc32(client.encode()) % 900 + 100


def point_times(name: str) -> tuple[str, str]:
    """(created, updated) of a point: stable per name, CREATED <= created <= updated <= UPDATED,
    so the created_*/updated_* filters of the point listings select real subsets."""
    h = stable_seed(name)
    created = _CREATED_US + h % _CREATED_SPREAD_US
    updated = created + (h >> 20) % (_UPDATED_US - created + 1)
    return format_time_us(created), format_time_us(updated)


@dataclass
class PointSpec:
    """One point. `path` is the part of the name after `<client>/<site>/`."""

    path: str
    kind: str = "analog"  # analog | setpoint | meter | binary | active | onoff | multistate
    interval_s: int = 60
    collect_enabled: bool = True
    cov: bool = False  # change-of-value: irregular sample times instead of a scrape interval
    device: str | None = None  # scrape group: points of one device share scrape times
    point_type: str = "bacnet"
    bacnet: dict | None = None  # bacnet_data fields (None: the point has no bacnet_data)
    units: str | None = None
    marker_tags: list[str] | None = None
    kv_tags: dict[str, str] | None = None
    base: float = 70.0
    amp: float = 1.0
    noise: float = 0.1
    decimals: int = 1
    lo: float = -math.inf
    hi: float = math.inf
    phase_h: float = 0.0
    null_ppm: int = 15  # chance per million samples of a null value
    nan_ppm: int = 8  # ... and of the string "nan"
    faults: list[PointFault] | None = None  # stuck / dead / out of range / spikes at known times


@dataclass
class SiteSpec:
    """A site. Give `points`, or leave it None for `n_points` synthetic BACnet points that
    all sample every `interval_s` (tests use this for tiny and for reference-size sites)."""

    name: str
    client: str = "bvdemo"
    points: list[PointSpec] | None = None
    n_points: int = 3
    interval_s: int = 60
    site_id: int | None = None
    client_id: int | None = None  # default: client_id_for(client)
    nice_name: str | None = None
    address: str = "100 Main St, Springfield, IL 62701"
    latitude: float = 39.7817
    longitude: float = -89.6501
    archived: bool = False
    # More point faults, by point path (the name after `<client>/<site>/`): for synthetic sites.
    faults: dict[str, list[PointFault]] | None = None
    _model: "Site | None" = field(default=None, init=False, repr=False, compare=False)

    def model(self) -> "Site":
        if self._model is None:
            self._model = Site(self)
        return self._model

    # Convenience: a spec answers like its model.
    def points_list(self) -> list[dict]:
        return self.model().points()

    def configured_points(self) -> list[dict]:
        return self.model().configured_points()

    def samples(self, start, end) -> list[tuple]:
        return self.model().samples(start, end)


WEATHER_FIELDS = {
    # field: (base, amp, noise, decimals, lo, hi)
    "temp": (64.0, 9.0, 0.4, 2, -40, 120),
    "feels_like": (63.0, 10.0, 0.6, 2, -50, 130),
    "pressure": (1014.0, 3.0, 0.6, 0, 950, 1060),
    "humidity": (62.0, -15.0, 2.0, 0, 5, 100),
    "dew_point": (49.0, 2.0, 0.5, 2, -40, 90),
    "clouds": (40.0, 25.0, 20.0, 0, 0, 100),
    "wind_speed": (7.5, 3.0, 1.5, 2, 0, 60),
    "wind_deg": (200.0, 60.0, 40.0, 0, 0, 359),
    "wet_bulb": (55.0, 5.0, 0.4, 2, -40, 100),
}


def weather_points(interval_s: int = 300) -> list[PointSpec]:
    out = []
    for fld, (base, amp, noise, dec, lo, hi) in WEATHER_FIELDS.items():
        out.append(PointSpec(
            path=f"weather/{fld}", kind="analog", interval_s=interval_s, device="weather", point_type="weather",
            bacnet=None, marker_tags=["weather", "outside"], kv_tags=None if fld in ("clouds", "wind_deg") else
            {"source": "openweathermap"}, base=base, amp=amp, noise=noise, decimals=dec, lo=lo, hi=hi,
            phase_h=2.0, null_ppm=0, nan_ppm=0))
    return out


# Synthetic points cycle through these object kinds (one device = 50 points).
_SYNTH = [
    # (object_type, name, kind, units, base, amp, noise, decimals, lo, hi)
    ("analogInput", "Zone Temp", "analog", "degreesFahrenheit", 72.0, 1.5, 0.15, 1, 40, 100),
    ("analogValue", "Zone Temp Setpoint", "setpoint", "degreesFahrenheit", 72.0, 0, 0, 1, 40, 100),
    ("analogInput", "Discharge Air Temp", "analog", "degreesFahrenheit", 60.0, 4.0, 0.3, 2, 40, 110),
    ("analogOutput", "Damper Position", "analog", "percent", 45.0, 30.0, 2.0, 1, 0, 100),
    ("analogInput", "Airflow", "analog", "cubicFeetPerMinute", 450.0, 250.0, 25.0, 0, 0, 2000),
    ("binaryValue", "Occupancy", "active", None, 1, 0, 0.02, 0, -1, 2),
    ("analogValue", "Reheat Valve", "analog", "percent", 20.0, -20.0, 3.0, 1, 0, 100),
    ("analogValue", "Space Temp Offset", "analog", "deltaDegreesFahrenheit", -0.5, 0.4, 0.05, 4, -5, 5),
]


def _synthetic_points(spec: SiteSpec) -> list[PointSpec]:
    points = []
    for i in range(spec.n_points):
        dev = i // 50
        device_id = 10000 + dev
        obj_type, label, kind, units, base, amp, noise, dec, lo, hi = _SYNTH[i % len(_SYNTH)]
        obj_index = i % 50 + 1
        addr = f"{1000 + dev // 200}:{dev % 200 + 1}-{device_id}"
        points.append(PointSpec(
            path=f"{addr}/{obj_type}/{obj_index}", kind=kind, interval_s=spec.interval_s, device=addr,
            bacnet={"device_address": addr, "device_id": str(device_id), "object_type": obj_type,
                    "object_index": str(obj_index), "object_name": f"VAV-{dev + 1:03d} {label}",
                    "device_name": f"VAV-{dev + 1:03d}", "device_description": "VAV box controller",
                    "object_description": label},
            units=units, marker_tags=["vav", "point"], kv_tags={"equip": f"VAV-{dev + 1:03d}"},
            base=base, amp=amp, noise=noise, decimals=dec, lo=lo, hi=hi, phase_h=(dev % 7) * 0.25,
        ))
    return points


class Site:
    """The served model of one site (immutable once built)."""

    def __init__(self, spec: SiteSpec):
        self.spec = spec
        self.name = spec.name
        self.client = spec.client
        self.site_id = spec.site_id or (zlib.crc32(spec.name.encode()) % 9000 + 1000)
        self.client_id = spec.client_id or client_id_for(spec.client)
        specs = spec.points if spec.points is not None else _synthetic_points(spec)
        self.point_specs = list(specs)
        prefix = f"{spec.client}/{spec.name}/"
        names = [prefix + p.path for p in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"site {spec.name}: duplicate point names")
        self.names = np.array(names, dtype=object)
        self.index = {n: i for i, n in enumerate(names)}
        site_seed = stable_seed(f"{spec.client}/{spec.name}")
        self.params = PointParams(specs, [stable_seed(n) ^ site_seed for n in names])
        groups = [(p.device or p.path.rsplit("/", 1)[0], p.interval_s, p.cov) for p in specs]
        self.faults = self._faults_by_index(spec, specs)
        self.pager = Pager(Schedule(site_seed, groups, dead=dead_windows(self.faults)))
        self.params.faults = self._value_faults()
        self._points = [self._point_dict(i, p, n) for i, (p, n) in enumerate(zip(specs, names))]
        self.weather_fields = {p.path.split("/", 1)[1]: i for i, p in enumerate(specs)
                               if p.path.startswith("weather/")}

    def _faults_by_index(self, spec: SiteSpec, specs: list[PointSpec]) -> dict[int, list[PointFault]]:
        out: dict[int, list[PointFault]] = {}
        paths = {p.path: i for i, p in enumerate(specs)}
        for i, p in enumerate(specs):
            if p.faults:
                out.setdefault(i, []).extend(p.faults)
        for path, faults in (spec.faults or {}).items():
            if path not in paths:
                raise ValueError(f"site {spec.name}: a fault names no point {path!r}")
            out.setdefault(paths[path], []).extend(faults)
        return out

    def _value_faults(self) -> dict[int, list]:
        """point index -> [(fault, payload)]: the fixed text of a stuck or out-of-range point (a
        stuck point without a value keeps the one it had at the fault's start), or for spikes
        (slot µs, slot numbers): the sample of the point's scrape slot holding each listed time
        (one sample per time; a change-of-value point: the samples of that minute)."""
        out: dict[int, list] = {}
        for i, faults in self.faults.items():
            for f in faults:
                if f.kind == "dead":
                    continue
                if f.kind == "spikes":
                    p = self.point_specs[i]
                    slot_us = MINUTE_US if p.cov else int(p.interval_s) * 1_000_000
                    slots = np.array(sorted({time_us(x) // slot_us for x in f.at}), dtype=np.int64)
                    out.setdefault(i, []).append((f, (slot_us, slots)))
                    continue
                if f.kind in ("stuck", "out_of_range"):
                    if f.value is not None:
                        text = fault_text(self.params, i, f.value)
                    else:
                        text = values(self.params, np.array([i]), np.array([f.start_us]))[0]
                        if text in (None, "nan"):
                            text = fault_text(self.params, i, self.point_specs[i].base)
                out.setdefault(i, []).append((f, text))
        return out

    # ------------------------------------------------------------------ catalog
    def site_dict(self) -> dict:
        s = self.spec
        return {
            "id": self.site_id, "name": s.name, "client": s.client, "client_id": self.client_id,
            "nice_name": s.nice_name or s.name.replace("_", " ").title(),
            "address": s.address, "latitude": s.latitude, "longitude": s.longitude,
            "geo_location": f"POINT({s.longitude} {s.latitude})", "archived": s.archived,
            "vtron_ip": None, "vtron_user": None, "ansible_user": None, "mqtt_prefix": f"{s.client}/{s.name}",
            "created": CREATED, "updated": UPDATED,
            "vpn_ip": None, "mqtt_id": f"{s.client}-{s.name}",
        }

    def _point_dict(self, i: int, p: PointSpec, name: str) -> dict:
        bacnet = None
        if p.bacnet is not None:
            bacnet = {
                "device_address": None, "device_id": None, "object_type": None, "object_index": None,
                "object_name": p.path.rsplit("/", 1)[-1], "device_name": None, "object_description": "",
                "device_description": "", "scrape_interval": p.interval_s, "scrape_enabled": p.collect_enabled,
                "present_value": self._present_value(i),
            }
            bacnet.update(p.bacnet)
            if p.units:
                bacnet["object_units"] = p.units
        created, updated = point_times(name)
        return {
            "id": self.site_id * 100_000 + i + 1, "name": name, "site": self.name, "site_id": self.site_id,
            "client": self.client, "client_id": self.client_id,
            "point_type": p.point_type, "collect_enabled": p.collect_enabled,
            "collect_interval": p.interval_s, "marker_tags": p.marker_tags, "kv_tags": p.kv_tags,
            "bacnet_data": bacnet, "collect_config": None, "topic_id": None, "device_id": None,
            "created": created, "updated": updated,
        }

    def _present_value(self, i: int) -> str:
        v = values(self.params, np.array([i]), np.array([to_us(datetime.fromisoformat(UPDATED))]))[0]
        return "" if v is None else v

    def points(self) -> list[dict]:
        return list(self._points)

    def configured_points(self) -> list[dict]:
        return [p for p in self._points if p["collect_enabled"]]

    @property
    def has_configured_points(self) -> bool:
        return any(p["collect_enabled"] for p in self._points)

    # ------------------------------------------------------------------ samples
    def render(self, pid: np.ndarray, t: np.ndarray) -> tuple[list, list, list]:
        """(names, values, times) of the samples, as the API prints them."""
        return self.names[pid].tolist(), values(self.params, pid, t), time_strings(t)

    def iter_chunks(self, start_us: int, end_us: int, chunk: int = 100_000,
                    only: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pos = self.pager.first_pos(start_us)
        while True:
            pid, t, last, pos = self.pager.take(pos, chunk, end_us)
            if only is not None and len(pid):
                keep = np.isin(pid, only)
                pid, t = pid[keep], t[keep]
            if len(pid):
                yield pid, t
            if last is None:
                return

    def samples(self, start, end) -> list[tuple]:
        """Every sample with start <= time < end as (name, value, time), ascending time, as
        the paginated timeseries serves them without faults (not clipped to any clock)."""
        out: list[tuple] = []
        for pid, t in self.iter_chunks(_us(start), _us(end)):
            out.extend(zip(*self.render(pid, t)))
        return out

    def latest(self, idx: list[int], before_us: int) -> dict[int, tuple]:
        """The latest sample before `before_us` of each point index (for /weather)."""
        span = max(self.point_specs[i].interval_s for i in idx) * 1_000_000 * 2 + 1_200_000_000
        found: dict[int, tuple] = {}
        for pid, t in self.iter_chunks(before_us - span, before_us, only=np.array(idx)):
            for row, i in zip(zip(*self.render(pid, t)), pid.tolist()):
                found[i] = row
        return found


def _us(value) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return to_us(value)


def reference_site(n_points: int = 4583, name: str = "ref_site", client: str = "bvdemo") -> SiteSpec:
    """The reference size: every point configured and sampled once a minute
    (4,583 points -> 6,599,520 samples a UTC day)."""
    return SiteSpec(name=name, client=client, n_points=n_points, interval_s=60,
                    nice_name="Reference Site", address="1 Reference Plaza, Falls City, NE 68355")
