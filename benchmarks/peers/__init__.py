"""The engines a user would pick instead of ours, each loaded with the same samples and
queried by its best path. Every peer answers `run(query)` (timed) and `table(raw)` (the
answer as (point, ts µs, value) for the content comparison, untimed)."""
