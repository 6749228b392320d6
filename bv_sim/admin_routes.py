"""The /_sim admin route table: read the state, set the clock and the faults, reset the log.

No auth: these steer a running simulator (tests and the CLI use them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from bv_sim.faults import FaultConfig
from bv_sim.httpd import ApiError, Request, Response, json_response

if TYPE_CHECKING:
    from bv_sim.server import SimServer


def state(sim: "SimServer", req: Request) -> Response:
    return json_response(200, sim.state())


def set_clock(sim: "SimServer", req: Request) -> Response:
    body = req.body()
    if body.get("real_time"):
        sim.clock.use_real_time()
    elif "now" in body:
        try:
            sim.clock.set(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
        except ValueError:
            raise ApiError(400, f"now is not an ISO 8601 time: {body['now']!r}") from None
    elif "advance_seconds" in body:
        sim.clock.advance(timedelta(seconds=float(body["advance_seconds"])))
    else:
        raise ApiError(400, 'body must be {"now": ISO} or {"advance_seconds": n} or {"real_time": true}')
    return json_response(200, sim.state())


def set_faults(sim: "SimServer", req: Request) -> Response:
    try:
        sim.set_faults(FaultConfig.from_dict(req.body()))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc)) from None
    return json_response(200, sim.state())


def reset_log(sim: "SimServer", req: Request) -> Response:
    sim.reset_log()
    return json_response(200, sim.state())


# (method, path after /_sim/, empty segments dropped) -> route
ADMIN_ROUTES: dict[tuple[str, str], Callable[["SimServer", Request], Response]] = {
    ("GET", "state"): state,
    ("POST", "clock"): set_clock,
    ("POST", "faults"): set_faults,
    ("POST", "reset_log"): reset_log,
}


def handle(sim: "SimServer", req: Request) -> Response:
    """Route one /_sim request (its path after /_sim)."""
    route = "/".join(s for s in req.segs if s)
    handler = ADMIN_ROUTES.get((req.method, route))
    if handler is None:
        raise ApiError(404, f"no admin route {req.method} /_sim/{route}")
    return handler(sim, req)
