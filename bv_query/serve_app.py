"""What `bv serve` runs: chart queries answered at once, the rest of the API built on first use.

Importing FastAPI and building its app costs about half a second of a fresh server's start
(pydantic models for the OpenAPI document). `/timeseries/query` — the request a chart sends
first — needs none of it (bv_query/timeseries_route.py), so this app answers it from a
plain Starlette handler and builds the full FastAPI app (bv_query/api.py: every other
route, the OpenAPI document, the chart page) when the first other request arrives. Both
share one engine and one key ring; the answers are the same bytes either way.
"""

from __future__ import annotations

import asyncio

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bv_config.settings import Settings
from bv_query.auth import KeyRing, parse_api_keys
from bv_query.engine import QueryEngine
from bv_query.timeseries_route import TimeseriesEndpoint, exception_response

HOT_PATH = "/timeseries/query"


class ServeApp:
    """ASGI app: GET /timeseries/query here, everything else through the lazily built FastAPI app."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self.engine = QueryEngine.from_settings(self.settings)
        self.api_keys = self.settings.api_keys or ""
        self.endpoint = TimeseriesEndpoint(self.engine, KeyRing(parse_api_keys(self.api_keys)))
        self._full: ASGIApp | None = None
        self._building = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"] == HOT_PATH and scope["method"] == "GET":
            request = Request(scope, receive)
            try:
                response = await self.endpoint.hot(request)
            except Exception as exc:  # the same answers the FastAPI app's handlers give
                response = exception_response(request, exc)
            await response(scope, receive, send)
        else:
            await (await self.full())(scope, receive, send)

    async def full(self) -> ASGIApp:
        """The FastAPI app, built once (in a thread: its imports must not stall the loop)."""
        if self._full is None:
            async with self._building:
                if self._full is None:
                    self._full = await asyncio.to_thread(self._build_full)
        return self._full

    def _build_full(self) -> ASGIApp:
        from bv_query.api import create_app

        # CORS is applied around this whole app (below), not twice.
        return create_app(self.engine, api_keys=self.api_keys, cors_origins="", settings=self.settings)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_serve_app(settings: Settings | None = None) -> ASGIApp:
    """`bv serve`'s app (a uvicorn factory): ServeApp, wrapped in CORS when BV_CORS_ORIGINS is set."""
    app = ServeApp(settings)
    origins = list(app.settings.cors_origins)
    if origins:
        return CORSMiddleware(app, allow_origins=origins, allow_methods=["GET"], allow_headers=["Authorization"])
    return app

