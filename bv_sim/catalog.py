"""The demo sites (`default_sites()`): a small office and a school, with the points a BMS really has.

Mixed collect intervals (30 s, 60 s, 300 s), change-of-value binaries, a totalizing meter,
weather, points that are not collect-enabled, one flaky sensor that often reports null and
one that reports "nan", and names with `/`, `:`, spaces and `#`.
"""

from __future__ import annotations

from bv_sim.sites import PointSpec, SiteSpec, weather_points


def _ahu(station: str, ahu: str, flaky: bool) -> list[PointSpec]:
    dev = f"{station}/{ahu}"
    tags = lambda *t: ["ahu", *t]  # noqa: E731
    kv = {"equip": ahu, "station": station.split("/")[0]}

    def p(name, kind="analog", interval=60, **kw):
        kw.setdefault("kv_tags", kv)
        # One Niagara station scrapes all its points of an interval together.
        return PointSpec(path=f"{dev}/{name}", kind=kind, interval_s=interval, device=station, point_type="niagara",
                         **kw)

    return [
        p("Supply Temp #2", base=55.0, amp=2.0, noise=0.3, decimals=1, marker_tags=tags("discharge", "temp"),
          null_ppm=4000 if flaky else 15),
        p("Return Temp", base=71.0, amp=1.5, noise=0.2, decimals=1, marker_tags=tags("return", "temp")),
        p("Mixed Air Temp", base=62.0, amp=5.0, noise=0.4, decimals=2, marker_tags=tags("mixed", "temp")),
        p("Supply Fan Status", "onoff", cov=True, base=1, noise=0.01, marker_tags=tags("fan", "cmd")),
        p("Supply Fan Speed", interval=30, base=65.0, amp=15.0, noise=1.5, decimals=1, lo=0, hi=100,
          marker_tags=None),
        p("Outside Air Damper", base=30.0, amp=15.0, noise=1.0, decimals=1, lo=0, hi=100,
          marker_tags=tags("outside", "damper")),
        p("Duct Static Pressure", interval=30, base=1.25, amp=0.1, noise=0.03, decimals=2,
          marker_tags=tags("pressure"), nan_ppm=3000 if flaky else 8),
        p("Supply Temp Setpoint", "setpoint", interval=300, base=55.0, decimals=1, marker_tags=tags("sp")),
        p("Occupied Mode", "binary", cov=True, base=1, noise=0.0, marker_tags=tags("occupied")),
        p("Filter Alarm", "binary", interval=300, collect_enabled=False, base=0, noise=0.003,
          marker_tags=tags("alarm"), kv_tags=None),
    ]


def _vav(network: int, mac: int, device_id: int, label: str) -> list[PointSpec]:
    addr = f"{network}:{mac}-{device_id}"
    kv = {"equip": label}

    def p(obj_type, index, name, kind="analog", interval=60, units=None, **kw):
        return PointSpec(
            # The BACnet scraper polls a whole network per interval: its points share one time.
            path=f"{addr}/{obj_type}/{index}", kind=kind, interval_s=interval, device=f"bacnet-{network}",
            bacnet={"device_address": addr, "device_id": str(device_id), "object_type": obj_type,
                    "object_index": str(index), "object_name": f"{label} {name}", "device_name": label,
                    "object_description": name, "device_description": "VAV with reheat"},
            units=units, marker_tags=["vav", name.lower().split()[0]], kv_tags=kv, **kw)

    phase = (mac % 5) * 0.4  # zones on different faces of the building warm at different times
    return [
        p("analogInput", 1, "Zone Temp", units="degreesFahrenheit", base=72.0, amp=1.5, noise=0.15,
          decimals=1 if mac % 2 else 2, lo=40, hi=100, phase_h=phase),
        p("analogValue", 102, "Zone Temp Setpoint", "setpoint", interval=300, units="degreesFahrenheit",
          base=72.0 if mac % 3 else 71.5, decimals=1),
        p("analogOutput", 3, "Damper Position", units="percent", base=45.0, amp=30.0, noise=2.0, decimals=1,
          lo=0, hi=100, phase_h=phase),
        p("analogInput", 4, "Airflow", interval=30, units="cubicFeetPerMinute", base=450.0, amp=250.0,
          noise=25.0, decimals=0, lo=0, hi=2000, phase_h=phase),
        p("binaryValue", 5, "Occupancy", "active", cov=True, base=1, noise=0.02),
        p("analogInput", 6, "Discharge Air Temp", interval=30, base=60.0, amp=4.0, noise=0.3, decimals=2,
          phase_h=phase),  # no object_units: not every controller reports them
        p("multiStateValue", 7, "Operating Mode", "multistate", interval=300, collect_enabled=False, noise=0.05),
        p("analogValue", 8, "Space Temp Offset", units="deltaDegreesFahrenheit", base=-0.5, amp=0.4,
          noise=0.05, decimals=4, lo=-5, hi=5),
    ]


def demo_office() -> SiteSpec:
    station = "192.168.1.5/n4"
    points = _ahu(station, "AHU 1", flaky=True) + _ahu(station, "AHU 2", flaky=False)
    meter = f"{station}/Main Meter"
    points += [
        PointSpec(path=f"{meter}/kWh Total", kind="meter", device=station, point_type="niagara", base=125_000.0,
                  amp=42.0, decimals=1, marker_tags=["elec", "meter", "energy"], kv_tags={"equip": "Main Meter"},
                  null_ppm=0, nan_ppm=0),
        PointSpec(path=f"{meter}/kW Demand", device=station, point_type="niagara", base=42.0, amp=20.0, noise=2.0,
                  decimals=2, lo=0, marker_tags=["elec", "meter", "power"], kv_tags={"equip": "Main Meter"}),
        PointSpec(path=f"{meter}/Power Factor", interval_s=300, collect_enabled=False, device=station,
                  point_type="niagara", base=0.93, amp=0.02, noise=0.005, decimals=3, marker_tags=None,
                  kv_tags=None),
    ]
    for j in range(10):
        points += _vav(8000, 33 + j, 8033 + j, f"VAV-{j + 1:02d}")
    points += weather_points(300)
    return SiteSpec(name="demo_office", client="bvdemo", points=points, site_id=2101, nice_name="Demo Office",
                    address="400 Commerce Dr, Omaha, NE 68102", latitude=41.2565, longitude=-95.9345)


def demo_school() -> SiteSpec:
    station = "10.20.0.12/n4"
    points = _ahu(station, "AHU-1", flaky=True)
    plant = f"{station}/Boiler Plant"

    def p(name, kind="analog", interval=60, **kw):
        return PointSpec(path=f"{plant}/{name}", kind=kind, interval_s=interval, device=station,
                         point_type="niagara", kv_tags={"equip": "Boiler Plant"}, **kw)

    points += [
        p("HW Supply Temp", base=172.0, amp=6.0, noise=0.5, decimals=1, marker_tags=["hot", "water", "temp"]),
        p("HW Return Temp", base=151.0, amp=5.0, noise=0.5, decimals=1, marker_tags=["hot", "water", "temp"]),
        p("Boiler Enable", "onoff", cov=True, base=1, noise=0.01, marker_tags=["boiler", "cmd"]),
        p("HW Pump Status", "active", cov=True, base=1, noise=0.01, marker_tags=None),
        p("HWST Setpoint", "setpoint", interval=300, base=180.0, decimals=1, marker_tags=["sp"]),
        p("Gas Meter:Therms Total", "meter", interval=300, base=8_400.0, amp=3.5, decimals=2,
          marker_tags=["gas", "meter"], null_ppm=0, nan_ppm=0),
    ]
    for j in range(6):
        points += _vav(2000, 10 + j, 2010 + j, f"RM-{101 + j}")
    points += weather_points(300)
    return SiteSpec(name="demo_school", client="bvdemo", points=points, site_id=2102, nice_name="Demo School",
                    address="55 School Rd, Lincoln, NE 68508", latitude=40.8136, longitude=-96.7026)


def default_sites() -> list[SiteSpec]:
    """The embedded demo: two small, realistic sites of client `bvdemo`."""
    return [demo_office(), demo_school()]
