"""HTTP API and chart page: `bv serve --host --port` (FastAPI on uvicorn).

Endpoints: `GET /timeseries/query` (compatible with the original Query Worker), `GET /health`,
`GET /sites`, `GET /sites/{site}/points?q=&tag=&status=`, `GET /sites/{site}/health` (point
health, bv_query/health.py), the chart page at `/`, and the OpenAPI document at `/openapi.json`.
Bad input is a 4xx JSON `{"error", "parameter"}`; nothing a client sends produces a 500.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from bv_config.settings import Settings
from bv_query import health as point_health, render
from bv_query.auth import AuthError, KeyRing, parse_api_keys
from bv_query.engine import QueryEngine
from bv_query.errors import QueryError
from bv_query.params import FORMATS, QueryRequest, parse_choice
from bv_store.storage import LocalStorage, StorageError

log = logging.getLogger("bv_query.api")
STATIC = Path(__file__).parent / "static"
SMALL_RESULT_ROWS = 20_000  # below this, JSON is sent in one piece (faster than streaming)
# /timeseries/query parameters other than the repeatable `point`, with the documented defaults.
TIMESERIES_DEFAULTS = {"site_name": None, "point_names": None, "start_time": None, "end_time": None,
                       "interval": "raw", "agg": "avg", "tz": "UTC", "fill": "null", "max_points": None,
                       "format": "json"}
# Queries this small (a chart's day of a few points: ~1 ms) run on the event loop; a thread
# hop would cost about as much as the query.
INLINE_MAX_POINTS = 10
INLINE_MAX_SPAN = timedelta(days=2)


class ApiError(BaseModel):
    """The body of every error answer (4xx, 503), as `_error` writes it."""

    error: str = Field(description="what went wrong, in words; never a key or a secret")
    parameter: str | None = Field(None, description="the query or path parameter that caused it, when one did")


# Documented on every operation but /health (see _document_errors); the handlers below send them.
ERROR_RESPONSES = {
    400: {"model": ApiError, "description": "Bad input; `parameter` names the parameter"},
    401: {"model": ApiError, "description": "BV_API_KEYS is set and no accepted `Authorization: Bearer <key>` was "
                                            "sent (header `WWW-Authenticate: Bearer`)"},
    403: {"model": ApiError, "description": "The API key may not read this site"},
    404: {"model": ApiError, "description": "Unknown site (no catalog, archive or live data), no such file, or no path"},
    503: {"model": ApiError, "description": "The storage could not be read"},
}
SITE_DESCRIPTION = "site name (as listed by GET /sites)"


def _document_errors(app: FastAPI) -> None:
    """OpenAPI: /health declares no error; FastAPI's default 422 is dropped everywhere (invalid
    parameters are answered 400 with ApiError); a `{site}` path parameter is described."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = build()
            for path, operations in doc.get("paths", {}).items():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    if path == "/health":
                        for status in ERROR_RESPONSES:
                            responses.pop(str(status), None)
                    for parameter in operation.get("parameters", []):
                        if parameter["in"] == "path" and parameter["name"] == "site":
                            parameter.setdefault("description", SITE_DESCRIPTION)
            for unused in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(unused, None)
        return app.openapi_schema

    app.openapi = openapi


def _error(status: int, message: str, parameter: str | None = None) -> JSONResponse:
    body = {"error": message}
    if parameter:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status)


def create_app(
    engine: QueryEngine | None = None,
    *,
    api_keys: str | None = None,
    cors_origins: str | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The app. What is not passed comes from `settings` (default `Settings.load()`):
    storage, query limits, BV_API_KEYS, BV_CORS_ORIGINS."""
    if engine is None or api_keys is None or cors_origins is None:
        settings = settings or Settings.load()
    if engine is None:
        engine = QueryEngine.from_settings(settings)
    keys = KeyRing(parse_api_keys(settings.api_keys if api_keys is None else api_keys))
    app = FastAPI(
        title="Building Vitals query API",
        version="1.0",
        docs_url=None,  # Swagger UI would load from a CDN; the OpenAPI document is served
        redoc_url=None,
        description="Time series of building sensor points, from the archive, rollups and live store.",
        responses=ERROR_RESPONSES,
    )
    _document_errors(app)
    app.state.engine, app.state.keys = engine, keys
    origins = list(settings.cors_origins) if cors_origins is None else [o.strip() for o in cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET"], allow_headers=["Authorization"]
        )

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError):
        return _error(exc.status, exc.message, exc.parameter)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        response = _error(exc.status, exc.message)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or None
        return _error(400, f"invalid request: {first.get('msg', 'bad parameter')}", where)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(StorageError)
    async def _storage_error(request: Request, exc: StorageError):
        log.error("storage failed: %s", exc)
        return _error(503, f"storage unavailable: {exc}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    def _key(request: Request):
        return keys.authenticate(request.headers.get("authorization"))

    @app.get("/health", summary="Liveness: no auth, no secrets")
    def health():
        return {"status": "ok", "storage": type(engine.storage).__name__.replace("Storage", "").lower()}

    @app.get("/sites", summary="Sites with a catalog, archive or live data")
    def sites(request: Request):
        key = _key(request)
        return {"sites": [s for s in engine.sites() if key is None or key.allows(s["name"])]}

    @app.get("/sites/{site}/points", summary="Search a site's points (every word must match)")
    def points(
        request: Request,
        site: str = PathParam(description=SITE_DESCRIPTION),
        q: str | None = Query(None, description='words, e.g. "vav 12 temp"'),
        tag: str | None = Query(None, description="a marker tag, or key=value of a kv tag"),
        status: str | None = Query(None, description="ok, degraded or dead in the newest point health file"),
        limit: str | None = Query("50", description="at most this many (1..1000)"),
        offset: str | None = Query("0", description="skip this many matches first (0..10000000)"),
    ):
        key = _key(request)
        KeyRing.check_site(key, site)
        lim, off = _int_param(limit, "limit", 1, 1000, 50), _int_param(offset, "offset", 0, 10**7, 0)
        found = point_health.filter_by_status(engine, site, engine.search_points(site, q, tag), status)
        return {"site": site, "total": len(found), "points": [p.to_json() for p in found[off : off + lim]]}

    point_health.register_routes(app)  # GET /sites/{site}/health (bv_query/health.py)

    @app.get("/timeseries/query", summary="Samples or buckets of points over [start_time, end_time)",
             responses={200: {"description": "The rows, in the asked `format`",
                              "content": {render.MEDIA_TYPES[f]: {} for f in ("csv", "parquet", "arrow")}}})
    def timeseries(
        request: Request,
        site_name: str | None = Query(None, description=SITE_DESCRIPTION),
        point_names: str | None = Query(None, description="comma-separated point names"),
        point: list[str] = Query([], description="a point name (repeatable; for names with commas)"),
        start_time: str | None = Query(None, description="ISO 8601 (zone or naive UTC), epoch s or epoch ms"),
        end_time: str | None = Query(None, description="exclusive end; same formats"),
        interval: str | None = Query("raw", description="raw, 1min, 5min, 15min, 1h (1hr), 1d (1day), auto"),
        agg: str | None = Query("avg", description="avg, min, max, first, last, count, sum"),
        tz: str | None = Query("UTC", description="IANA zone buckets align to"),
        fill: str | None = Query("null", description="empty buckets: null, locf, linear"),
        max_points: str | None = Query(None, description="budget for auto; M4 downsampling above it"),
        format: str | None = Query("json", description="json, csv, parquet, arrow"),
    ):
        return _respond(*_parse(request, dict(
            site_name=site_name, point_names=point_names, point=point, start_time=start_time, end_time=end_time,
            interval=interval, agg=agg, tz=tz, fill=fill, max_points=max_points, format=format,
        )))

    def _parse(http_request: Request, p: dict) -> tuple[str, QueryRequest]:
        """(format, request) from the query parameters; raises the 4xx errors in their order."""
        key = _key(http_request)
        fmt = parse_choice(p["format"], "format", FORMATS, "json")
        names = [n for n in (p["point_names"] or "").split(",") if n.strip()] + list(p["point"])
        if p["site_name"]:
            KeyRing.check_site(key, p["site_name"].strip())
        request = QueryRequest.parse(
            p["site_name"] or "", names, p["start_time"], p["end_time"], interval=p["interval"], agg=p["agg"],
            tz=p["tz"], fill=p["fill"], max_points=p["max_points"], max_point_count=engine.max_point_count,
            max_range_days=engine.max_range_days,
        )
        return fmt, request

    def _respond(fmt: str, request: QueryRequest) -> Response:
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

    local = isinstance(engine.storage, LocalStorage)  # remote reads never block the event loop

    async def timeseries_hot(http_request: Request) -> Response:
        """The same endpoint without FastAPI's parameter machinery (the route above documents
        it): a small query is answered on the event loop, the rest in the thread pool."""
        qp = http_request.query_params
        p = {name: qp.get(name, default) for name, default in TIMESERIES_DEFAULTS.items()}
        p["point"] = qp.getlist("point")
        fmt, request = _parse(http_request, p)
        if local and len(request.points) <= INLINE_MAX_POINTS and request.end - request.start <= INLINE_MAX_SPAN:
            return _respond(fmt, request)
        return await run_in_threadpool(_respond, fmt, request)

    # Routes match in order: this one answers, the FastAPI route above stays in the OpenAPI document.
    app.router.routes.insert(0, Route("/timeseries/query", timeseries_hot, methods=["GET"], include_in_schema=False))

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def chart_page():
            return FileResponse(STATIC / "index.html")

    return app


def _int_param(value, name: str, low: int, high: int, default: int) -> int:
    if value is None or str(value).strip() == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise QueryError(name, f"{name}={value!r} is not an integer") from None
    if not low <= number <= high:
        raise QueryError(name, f"{name}={number} must be between {low} and {high}")
    return number
