"""Feature services of the charge point, each testable without a socket.

They share one ``EngineContext`` (settings, configuration, connectors, journal, the wire) and
speak to the CSMS only through the wire's ``call_action``; the handlers of CSMS messages live
with the wire (``engine/ocpp16/handlers``) and call into these services.
"""
