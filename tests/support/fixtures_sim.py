"""Fixtures that run the ACE simulator (bv_sim) for real on loopback."""

from __future__ import annotations

import secrets

import pytest

from bv_sim.server import SimServer


@pytest.fixture(scope="session")
def sim_token() -> str:
    """A random bearer token shared by the simulators of this session and their clients."""
    return secrets.token_urlsafe(32)


@pytest.fixture
def make_ace_sim(sim_token):
    """Factory: make_ace_sim(sites=..., clock=..., faults=..., token=...) -> started SimServer,
    stopped at the end of the test."""
    started: list[SimServer] = []

    def make(**kwargs) -> SimServer:
        kwargs.setdefault("token", sim_token)
        srv = SimServer(host="127.0.0.1", port=0, **kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def ace_sim(make_ace_sim) -> SimServer:
    """A fresh simulator (demo sites, real-time clock, no faults) for one test."""
    return make_ace_sim()


@pytest.fixture(scope="session")
def ace_sim_session(sim_token):
    """One simulator shared by the session: read-only use (no faults, no clock changes)."""
    srv = SimServer(host="127.0.0.1", port=0, token=sim_token).start()
    yield srv
    srv.stop()
