"""The OCPP 1.6J wire: frames, schema validation, the RPC layer.

``frames`` parses and encodes OCPP-J frames and names the 1.6 CALLERROR codes; ``validation``
checks payloads against the 1.6 JSON schemas; ``rpc`` is the wire on top of the ``ocpp``
library's v16 ChargePoint. Kept in its own package so that an OCPP 2.0.1 wire can sit beside it.
"""
