"""The certificate messages against ocpp-rpc in strict mode (Node): no schema violations in
either direction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import ConnectionState
from tests.strict_csms_harness import StrictCsms

from .conftest import EngineFactory
from .test_core import wait_state
from .tls import pem, root_ca, sign_csr


@pytest.fixture
async def strict() -> AsyncIterator[StrictCsms]:
    async with StrictCsms() as server:
        yield server


def result_of(event: dict[str, Any]) -> dict[str, Any]:
    assert event["event"] == "result_in", event
    result: dict[str, Any] = event["result"]
    return result


async def test_certificate_messages_without_schema_violations(
    strict: StrictCsms, make_engine: EngineFactory
) -> None:
    engine = make_engine(strict.url)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    root = root_ca("CSMS root")
    kind = "CentralSystemRootCertificate"
    answer = await strict.call("GetInstalledCertificateIds", {"certificateType": kind})
    assert result_of(answer) == {"status": "NotFound"}
    install = {"certificateType": kind, "certificate": root.pem}
    assert result_of(await strict.call("InstallCertificate", install)) == {"status": "Accepted"}
    expired = {"certificateType": kind, "certificate": root_ca("old", expired=True).pem}
    assert result_of(await strict.call("InstallCertificate", expired)) == {"status": "Rejected"}
    ids = result_of(await strict.call("GetInstalledCertificateIds", {"certificateType": kind}))
    assert ids["status"] == "Accepted"
    [hash_data] = ids["certificateHashData"]
    cpo = {"key": "CpoName", "value": "Example CPO"}
    assert result_of(await strict.call("ChangeConfiguration", cpo)) == {"status": "Accepted"}

    await engine.services.certificates.request_signing()
    request = await strict.wait_for(
        lambda e: e.get("event") == "call_in" and e["method"] == "SignCertificate"
    )
    csr = request["params"]["csr"]
    garbage = {"certificateChain": "not a certificate"}
    assert result_of(await strict.call("CertificateSigned", garbage)) == {"status": "Rejected"}
    chain = {"certificateChain": pem(sign_csr(csr, root))}
    assert result_of(await strict.call("CertificateSigned", chain)) == {"status": "Accepted"}

    delete = {"certificateHashData": hash_data}
    assert result_of(await strict.call("DeleteCertificate", delete)) == {"status": "Accepted"}
    assert result_of(await strict.call("DeleteCertificate", delete)) == {"status": "NotFound"}
    await strict.check_no_violations()
