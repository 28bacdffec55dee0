"""One handler per CSMS message: OCPP 1.6 payload in, service call, OCPP 1.6 answer out.

Handlers hold no state of their own. One that changes persistent state returns only after the
service has made the change durable, so the CALLRESULT never runs ahead of the journal.
"""

from __future__ import annotations

from functools import partial

from ...services.registry import Services
from ..rpc import Handler
from . import (
    core,
    firmware,
    local_auth,
    remote_trigger,
    reservation,
    security,
    security_log,
    smart_charging,
)

MODULES = (
    core,
    local_auth,
    remote_trigger,
    reservation,
    smart_charging,
    firmware,
    security,
    security_log,
)


def build_handlers(services: Services) -> dict[str, Handler]:
    """Every handler of the modules above, bound to one charge point's services."""
    handlers: dict[str, Handler] = {}
    for module in MODULES:
        for action, handler in module.HANDLERS.items():
            handlers[action] = partial(handler, services)
    return handlers
