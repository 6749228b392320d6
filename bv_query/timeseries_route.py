"""`GET /timeseries/query` on plain Starlette: parsing, answering, and the error answers.

The FastAPI app (bv_query/api.py) documents the endpoint and routes it here; `bv serve`
(bv_query/serve_app.py) answers it from here before FastAPI is even imported. Nothing in
this module imports FastAPI or pydantic: a fresh server's first chart answer does not wait
for them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bv_query import render
from bv_query.auth import AuthError, KeyRing
from bv_query.engine import QueryEngine
from bv_query.errors import QueryError
from bv_query.params import FORMATS, QueryRequest, parse_choice
from bv_store.storage import LocalStorage, StorageError

log = logging.getLogger("bv_query.api")
SMALL_RESULT_ROWS = 20_000  # below this, JSON is sent in one piece (faster than streaming)
# Parameters other than the repeatable `point`, with the documented defaults.
TIMESERIES_DEFAULTS = {"site_name": None, "point_names": None, "start_time": None, "end_time": None,
                       "interval": "raw", "agg": "avg", "tz": "UTC", "fill": "null", "max_points": None,
                       "format": "json"}
# Queries this small (a chart's day of a few points: ~1 ms) run on the event loop; a thread
# hop would cost about as much as the query.
INLINE_MAX_POINTS = 10
INLINE_MAX_SPAN = timedelta(days=2)


def error_response(status: int, message: str, parameter: str | None = None) -> JSONResponse:
    """The body of every error answer: {"error", "parameter"?}."""
    body = {"error": message}
    if parameter:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status)


def exception_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer an exception becomes (the FastAPI app registers the same mapping)."""
    if isinstance(exc, QueryError):
        return error_response(exc.status, exc.message, exc.parameter)
    if isinstance(exc, AuthError):
        response = error_response(exc.status, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, str(exc.detail))
    if isinstance(exc, StorageError):
        log.error("storage failed: %s", exc)
        return error_response(503, f"storage unavailable: {exc}")
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(500, f"internal error ({type(exc).__name__}); see the server log")


class TimeseriesEndpoint:
    """Parses and answers /timeseries/query for one engine and key ring."""

    def __init__(self, engine: QueryEngine, keys: KeyRing):
        self.engine, self.keys = engine, keys
        self.local = isinstance(engine.storage, LocalStorage)  # remote reads never block the event loop

    def parse(self, http_request: Request, p: dict) -> tuple[str, QueryRequest]:
        """(format, request) from the query parameters; raises the 4xx errors in their order."""
        key = self.keys.authenticate(http_request.headers.get("authorization"))
        fmt = parse_choice(p["format"], "format", FORMATS, "json")
        names = [n for n in (p["point_names"] or "").split(",") if n.strip()] + list(p["point"])
        if p["site_name"]:
            KeyRing.check_site(key, p["site_name"].strip())
        request = QueryRequest.parse(
            p["site_name"] or "", names, p["start_time"], p["end_time"], interval=p["interval"], agg=p["agg"],
            tz=p["tz"], fill=p["fill"], max_points=p["max_points"], max_point_count=self.engine.max_point_count,
            max_range_days=self.engine.max_range_days,
        )
        return fmt, request

    def respond(self, fmt: str, request: QueryRequest) -> Response:
        engine = self.engine
        if fmt == "csv":
            from bv_query import export  # DuckDB-backed: loaded when a CSV is first asked for
        if fmt == "csv" and export.streams(request):
            # Raw CSV goes out a day at a time (any size, bounded memory); its row count is
            # not known before the last day, so there is no X-BV-Rows header.
            stream = export.RawCsvExport.open(engine, request)
            return StreamingResponse(
                stream.chunks(), media_type=render.MEDIA_TYPES["csv"],
                headers={"Content-Disposition": f'attachment; filename="{request.site}.csv"',
                         "X-BV-Source": stream.source},
            )
        result = engine.run(request)
        if fmt == "json":
            if result.table.num_rows <= SMALL_RESULT_ROWS:
                return Response(render.json_bytes(result), media_type=render.MEDIA_TYPES["json"])
            return StreamingResponse(render.json_chunks(result), media_type=render.MEDIA_TYPES["json"])
        body = {"csv": render.csv_bytes, "parquet": render.parquet_bytes, "arrow": render.arrow_bytes}[fmt](result)
        filename = f"{result.request.site}.{fmt}"
        return Response(
            body, media_type=render.MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"',
                     "X-BV-Rows": str(result.metadata["rows"]), "X-BV-Source": result.metadata["source"]},
        )

    async def hot(self, http_request: Request) -> Response:
        """The endpoint without FastAPI's parameter machinery: a small query is answered on
        the event loop, the rest in the thread pool. Errors propagate to the app's handlers."""
        qp = http_request.query_params
        p = {name: qp.get(name, default) for name, default in TIMESERIES_DEFAULTS.items()}
        p["point"] = qp.getlist("point")
        fmt, request = self.parse(http_request, p)
        if self.local and len(request.points) <= INLINE_MAX_POINTS and request.end - request.start <= INLINE_MAX_SPAN:
            return self.respond(fmt, request)
        return await run_in_threadpool(self.respond, fmt, request)
