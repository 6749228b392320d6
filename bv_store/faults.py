"""Crash points: a test hook that kills the process at a named step of a writer.

    BV_CRASH_AT=archive.verified bv materialize …   # dies right after the archive file
                                                      # was verified on scratch, before its put

Off by default: with `BV_CRASH_AT` unset, `crash_point` is one environment lookup. When it
names this point, one line goes to stderr and the process ends with `os._exit(CRASH_EXIT_CODE)`:
no `finally`, no cleanup, exactly like a kill. Every name must be declared in `CRASH_POINTS`;
an unknown name in `BV_CRASH_AT` raises, so a misspelled test cannot silently crash nowhere.

Names are `<what>.<step>`. The publish steps (`bv_store.publish`, `Storage.put_file`) exist for
every kind of file, the kind read from the key (`file_kind`); the writers add their own steps
between publishes (deletes, cursor moves).
"""

from __future__ import annotations

import os
import sys

from bv_store.layout import parse_archive_key, parse_health_key, parse_live_part_key, parse_raw_key, parse_rollup_key

ENV_VAR = "BV_CRASH_AT"
CRASH_EXIT_CODE = 86

# Kinds of published file, named after what writes them (from the key: `file_kind`).
FILE_KINDS = (
    "catalog", "catalog_version", "raw", "archive", "rollup", "live_part", "live_compaction",
    "live_cursor", "health", "other",
)

# Steps of `publish()` / `put_file`, and what a crash there leaves behind.
PUBLISH_STEPS = {
    "scratch_written": "the new file is whole on scratch but unverified: only scratch debris, the key unchanged",
    "verified": "the new file is re-read and row-counted on scratch, not put: the key unchanged",
    "put_incomplete": "locally a hidden `.<name>.tmp-<uuid>` copy is fsynced in the destination folder, "
                      "before os.replace; on S3 the request body is partly sent: the key unchanged",
    "published": "the new file is at its key, the scratch file not yet removed",
}

# Steps of a writer between its publishes.
WRITER_STEPS = {
    "raw.mid_stream": "first ACE page written to the raw scratch file, the stream not finished",
    "catalog.before_version": "the new current catalog is published, its version file not yet",
    "live_sync.parts_published": "every live part of the tick is published; no compaction, cursor not moved",
    "live_sync.before_cursor": "parts published and compacted, the cursor not moved",
    "live_compaction.mid_delete": "the merged part is published and one of the parts it merged deleted, the others not",
    "live_release.compared": "the closed day's live files were compared with the archive, none deleted",
    "live_release.mid_delete": "one of the closed day's live files deleted, the others not",
    "raw_retention.mid_delete": "one expired raw file deleted, the others not",
}

CRASH_POINTS: dict[str, str] = {
    **{f"{kind}.{step}": text for kind in FILE_KINDS for step, text in PUBLISH_STEPS.items()},
    **WRITER_STEPS,
}


class CrashPointError(ValueError):
    """`BV_CRASH_AT` (or a call site) names a crash point that is not declared."""


def _armed() -> set[str]:
    """The names in BV_CRASH_AT, each checked against the declared points."""
    raw = os.environ.get(ENV_VAR, "")
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - CRASH_POINTS.keys())
    if unknown:
        raise CrashPointError(
            f"{ENV_VAR}={raw!r} names undeclared crash point(s) {', '.join(unknown)}; "
            f"declared points are listed in bv_store.faults.CRASH_POINTS (e.g. archive.verified)"
        )
    return names


def crash_point(name: str) -> None:
    """Die here if BV_CRASH_AT names this point; otherwise do nothing."""
    if not os.environ.get(ENV_VAR):
        return
    if name not in CRASH_POINTS:
        raise CrashPointError(f"crash point {name!r} is used in code but not declared in CRASH_POINTS")
    if name in _armed():
        sys.stderr.write(f"bv crash point {name}: exiting with code {CRASH_EXIT_CODE} ({ENV_VAR})\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)


def crash_point_for_key(key: str, step: str) -> None:
    """The publish step `step` of the file at `key` (the kind is read from the key)."""
    if os.environ.get(ENV_VAR):
        crash_point(f"{file_kind(key)}.{step}")


def armed_for_key(key: str, step: str) -> bool:
    """Whether `crash_point_for_key(key, step)` would kill (for hooks that cost something to set up)."""
    return bool(os.environ.get(ENV_VAR)) and f"{file_kind(key)}.{step}" in _armed()


def file_kind(key: str) -> str:
    """Which writer's file a storage key is (see bv_store.layout)."""
    if key.startswith("points/"):
        return "catalog_version" if "/versions/" in key else "catalog"
    if key.startswith("state/live_cursor/"):
        return "live_cursor"
    live = parse_live_part_key(key)
    if live:
        return "live_compaction" if live.token.startswith("merged") else "live_part"
    for kind, parse in (("raw", parse_raw_key), ("archive", parse_archive_key),
                        ("rollup", parse_rollup_key), ("health", parse_health_key)):
        if parse(key):
            return kind
    return "other"
