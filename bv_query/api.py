"""HTTP API and chart page: `bv serve --host --port` (FastAPI on uvicorn).

Endpoints: `GET /timeseries/query` (compatible with the original Query Worker), `GET /health`,
`GET /sites`, `GET /sites/{site}/points?q=&tag=&status=`, `GET /sites/{site}/health` (point
health, bv_query/health.py), the chart page at `/`, and the OpenAPI document at `/openapi.json`.
Bad input is a 4xx JSON `{"error", "parameter"}`; nothing a client sends produces a 500.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from bv_config.settings import Settings
from bv_query import health as point_health, render
from bv_query.auth import AuthError, KeyRing, parse_api_keys
from bv_query.engine import QueryEngine
from bv_query.errors import QueryError
from bv_query.timeseries_route import (SMALL_RESULT_ROWS, TimeseriesEndpoint, error_response as _error,
                                       exception_response)
from bv_store.storage import StorageError

__all__ = ["SMALL_RESULT_ROWS", "create_app"]
STATIC = Path(__file__).parent / "static"


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

    # One mapping from exception to answer, shared with bv serve's hot route (timeseries_route).
    for kind in (QueryError, AuthError, StarletteHTTPException, StorageError, Exception):
        app.add_exception_handler(kind, exception_response)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or None
        return _error(400, f"invalid request: {first.get('msg', 'bad parameter')}", where)

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
        return endpoint.respond(*endpoint.parse(request, dict(
            site_name=site_name, point_names=point_names, point=point, start_time=start_time, end_time=end_time,
            interval=interval, agg=agg, tz=tz, fill=fill, max_points=max_points, format=format,
        )))

    endpoint = TimeseriesEndpoint(engine, keys)
    # Routes match in order: this one answers, the FastAPI route above stays in the OpenAPI document.
    app.router.routes.insert(0, Route("/timeseries/query", endpoint.hot, methods=["GET"], include_in_schema=False))

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
