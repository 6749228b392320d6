"""bv_sim: a local ACE IoT FlightDeck API simulator (see docs/ace-api.md).

    from bv_sim.server import SimServer
    srv = SimServer(token="tok").start(); ...; srv.stop()
"""
