"""The storage contract, shared by the pipeline and the query layer (and free of Dagster):
layout keys and their parsers, day windows, schemas, the storage backends, the one
`publish` primitive every writer uses, and DuckDB connections that read the files in place."""
