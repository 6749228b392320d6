"""bv_sim: a local ACE IoT FlightDeck API simulator (see /work/shared/ace-api.md).

    from bv_sim.server import SimServer
    srv = SimServer(token="tok").start(); ...; srv.stop()
"""
