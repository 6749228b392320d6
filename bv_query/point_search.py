"""Find points in a site's `ace_points` catalog by words a person would type.

Raw ACE names are paths (`ses/ses_falls_city/8000:33-8033/analogValue/102`), so each point
gets a display name, equipment and unit from its BACnet data and tags, and a search over
all of those: every word of "vav 12 temp" must match a word of the point (a prefix of a
word, or the same number: `12` finds `VAV-012`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

UNIT_SYMBOLS = {
    "degreesfahrenheit": "°F",
    "degreescelsius": "°C",
    "percent": "%",
    "percentrelativehumidity": "%RH",
    "cubicfeetperminute": "cfm",
    "kilowatts": "kW",
    "kilowatthours": "kWh",
    "poundsforcepersquareinch": "psi",
    "inchesofwater": "inH2O",
    "partspermillion": "ppm",
    "wattspersquaremeter": "W/m²",
    "milesperhour": "mph",
    "gallonsperminute": "gpm",
    "noUnits".lower(): None,
}
_WORD = re.compile(r"[a-z]+|\d+")


def unit_symbol(unit: str | None) -> str | None:
    if not unit:
        return None
    key = unit.replace(" ", "").replace("_", "").lower()
    return UNIT_SYMBOLS.get(key, unit)


def _norm(word: str) -> str:
    return (word.lstrip("0") or "0") if word.isdigit() else word


def _words(text: str) -> set[str]:
    return {_norm(word) for word in _WORD.findall(text.lower())}


@dataclass(frozen=True)
class PointInfo:
    name: str
    display_name: str
    equipment: str | None
    unit: str | None
    unit_symbol: str | None
    marker_tags: tuple[str, ...]
    kv_tags: dict
    point_type: str | None
    words: frozenset

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "equipment": self.equipment,
            "unit": self.unit_symbol,
            "unit_name": self.unit,
            "marker_tags": list(self.marker_tags),
            "kv_tags": self.kv_tags,
            "point_type": self.point_type,
        }


def point_infos(catalog: pa.Table) -> list[PointInfo]:
    infos = []
    for row in catalog.to_pylist():
        kv = dict(row.get("kv_tags") or [])
        object_name = row.get("bacnet_object_name")
        device = row.get("bacnet_device_name")
        equipment = kv.get("equip") or kv.get("equipment") or device
        description = row.get("bacnet_object_description")
        if object_name:
            display = object_name
        elif equipment and description:
            display = f"{equipment} {description}"
        else:
            display = " ".join(row["name"].split("/")[-2:])
        unit = row.get("unit")
        haystack = " ".join(
            str(x)
            for x in (
                row["name"], display, equipment, description, device, row.get("bacnet_device_description"),
                unit, unit_symbol(unit), " ".join(row.get("marker_tags") or []),
                " ".join(f"{k} {v}" for k, v in kv.items()),
            )
            if x
        )
        infos.append(
            PointInfo(
                name=row["name"],
                display_name=display,
                equipment=equipment,
                unit=unit,
                unit_symbol=unit_symbol(unit),
                marker_tags=tuple(row.get("marker_tags") or ()),
                kv_tags=kv,
                point_type=row.get("point_type"),
                words=frozenset(_words(haystack)),
            )
        )
    return infos


def _matches(query_words: list[str], words: frozenset) -> bool:
    for q in query_words:
        if q.isdigit():
            if q not in words:
                return False
        elif q not in words and not any(w.startswith(q) for w in words):
            return False
    return True


def search_points(infos: list[PointInfo], q: str | None, tag: str | None = None) -> list[PointInfo]:
    """Points matching every word of q (and carrying `tag`, a marker tag or `key=value`)."""
    query_words = [_norm(w) for w in _WORD.findall((q or "").lower())]
    found = []
    for info in infos:
        if tag:
            key, _, value = tag.partition("=")
            if value:
                if str(info.kv_tags.get(key, "")).lower() != value.lower():
                    continue
            elif tag.lower() not in {t.lower() for t in info.marker_tags}:
                continue
        if _matches(query_words, info.words):
            found.append(info)
    # Points whose display name carries the words come first.
    display_hits = [i for i in found if _matches(query_words, frozenset(_words(i.display_name)))]
    hit_names = {i.name for i in display_hits}
    rest = [i for i in found if i.name not in hit_names]
    return sorted(display_hits, key=lambda i: i.display_name) + sorted(rest, key=lambda i: i.display_name)
