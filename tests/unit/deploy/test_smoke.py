"""xedgesim/deploy/smoke.py against a fake broker: the three checks and their failures."""

from __future__ import annotations

import json
import queue
import ssl
from pathlib import Path
from typing import Any

import pytest

from xedgesim.deploy import certificates, smoke


class FakeBroker:
    """Enough of Mosquitto: users, sessions that keep QoS 1 messages while away, a gateway
    that aggregates a reading into ``agg/edge-1`` at once, and a restart that may lose state."""

    def __init__(self, anonymous: bool = False, gateway_works: bool = True,
                 persistent: bool = True, ca: Path | None = None) -> None:
        self.anonymous = anonymous
        # TLS with a certificate of this CA (None: plain text): the handshake fails for a
        # client that does not trust it, as ssl does.
        self.ca_der = ssl.PEM_cert_to_DER_cert(ca.read_text()) if ca else None
        self.gateway_works = gateway_works
        self.persistent = persistent
        self.sessions: dict[str, dict[str, Any]] = {}  # id -> {topics, queue, online}
        self.restarts = 0

    def deliver(self, topic: str, payload: bytes) -> None:
        for session in self.sessions.values():
            if topic in session["topics"]:
                if session["client"] is not None:
                    session["client"].messages.put((topic, payload))
                else:
                    session["queued"].append((topic, payload))

    def restart(self) -> None:
        self.restarts += 1
        for session in self.sessions.values():
            session["client"] = None
        if not self.persistent:
            self.sessions.clear()


class FakeClient:
    def __init__(self, broker: FakeBroker, address: Any, client_id: str,
                 username: str | None = None, password: str | None = None,
                 clean_session: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.broker, self.client_id, self.username = broker, client_id, username
        self.tls = tls
        self.password, self.clean = password, clean_session
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def connect(self, timeout: float = 1) -> int:
        if (self.tls is None) != (self.broker.ca_der is None):
            raise ConnectionResetError("TLS on one side only")
        if self.tls is not None and \
                self.broker.ca_der not in self.tls.get_ca_certs(binary_form=True):
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        if self.username is None and not self.broker.anonymous:
            return 5
        if self.username is not None and self.password != "right":
            return 4
        session = self.broker.sessions.get(self.client_id)
        if session is None or self.clean:
            session = {"topics": set(), "queued": [], "client": None}
            self.broker.sessions[self.client_id] = session
        session["client"] = self
        for message in session.pop("queued", []):
            self.messages.put(message)
        session["queued"] = []
        return 0

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 1) -> bool:
        self.broker.sessions[self.client_id]["topics"].add(topic)
        return True

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 1) -> None:
        reading = json.loads(payload)
        if self.broker.gateway_works and topic.startswith("site/"):
            aggregate = {**reading, "id": 7, "n": 3}
            self.broker.deliver("agg/edge-1", json.dumps(aggregate).encode())

    def wait_for(self, match: Any, timeout: float) -> tuple[int, bool]:
        others = 0
        while not self.messages.empty():
            if match(*self.messages.get()):
                return others, True
            others += 1
        return others, False

    def close(self) -> None:
        session = self.broker.sessions.get(self.client_id)
        if session is not None and session["client"] is self:
            session["client"] = None
            if self.clean:
                del self.broker.sessions[self.client_id]


def target(password: str = "right", ca: Path | None = None) -> smoke.SmokeTarget:
    return smoke.SmokeTarget("edge-1", ("127.0.0.1", 1883), "probe", password,
                             "site/xedgesim-probe/temp", "agg/edge-1", window_s=0.1,
                             tls=ca is not None, ca=ca)


def run(broker: FakeBroker, password: str = "right", restart: bool = True,
        ca: Path | None = None) -> smoke.SmokeReport:
    def factory(*args: Any, **kwargs: Any) -> FakeClient:
        return FakeClient(broker, *args, **kwargs)

    return smoke.run(target(password, ca), broker.restart if restart else None, factory)


@pytest.fixture(scope="module")
def fleet_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = certificates.make_fleet_pki(tmp_path_factory.mktemp("pki") / "tls", {"edge-1": []})
    return made["edge-1"].ca


def test_over_tls_every_client_trusts_the_fleet_ca_and_a_stranger_ca_is_refused(
        fleet_ca: Path) -> None:
    broker = FakeBroker(ca=fleet_ca)
    report = run(broker, ca=fleet_ca)
    assert report.tls.passed, report.tls.detail
    assert "another CA was refused" in report.tls.detail
    assert report.anonymous_refused.passed and report.aggregated.passed
    assert report.persisted.passed, report.persisted.detail


def test_a_broker_whose_certificate_is_not_the_fleets_fails(fleet_ca: Path,
                                                            tmp_path: Path) -> None:
    other = certificates.make_fleet_pki(tmp_path / "tls", {"edge-1": []})["edge-1"].ca
    report = run(FakeBroker(ca=other), ca=fleet_ca)
    assert report.tls.passed is True  # the stranger is refused either way ...
    assert report.anonymous_refused.passed is False  # ... and so are the fleet's own clients
    assert "cannot reach" in report.anonymous_refused.detail
    assert report.aggregated.passed is False


def test_a_plain_text_broker_is_flagged_insecure_not_passed() -> None:
    report = run(FakeBroker())
    assert report.tls.passed is None and report.tls.detail.startswith("INSECURE")
    assert report.as_dict()["tls"]["passed"] is None


def test_a_healthy_host_passes_all_three() -> None:
    broker = FakeBroker()
    report = run(broker)
    assert report.anonymous_refused.passed and report.aggregated.passed
    assert report.persisted.passed, report.persisted.detail
    assert broker.restarts == 1
    assert broker.sessions == {}  # the probe's sessions are discarded afterwards
    assert report.as_dict()["persisted"]["passed"] is True


def test_an_open_broker_fails_the_anonymous_check() -> None:
    report = run(FakeBroker(anonymous=True))
    assert not report.anonymous_refused.passed
    assert "without credentials" in report.anonymous_refused.detail


def test_a_silent_gateway_fails_the_aggregate_and_skips_nothing_silently() -> None:
    report = run(FakeBroker(gateway_works=False))
    assert not report.aggregated.passed and "no aggregate" in report.aggregated.detail
    assert report.persisted.passed is False


def test_a_broker_that_forgets_sessions_fails_persistence() -> None:
    report = run(FakeBroker(persistent=False))
    assert report.aggregated.passed and not report.persisted.passed
    assert "lost in the broker's restart" in report.persisted.detail


def test_wrong_password_is_reported() -> None:
    report = run(FakeBroker(), password="wrong")
    assert not report.aggregated.passed and "refused 'probe'" in report.aggregated.detail


def test_restart_can_be_skipped() -> None:
    broker = FakeBroker()
    report = run(broker, restart=False)
    assert report.persisted.passed is None and broker.restarts == 0


def test_the_password_is_not_in_the_target_repr() -> None:
    assert "right" not in repr(target())


def test_a_smoke_failure_is_an_error_xedge_reports() -> None:
    """Should one escape a report, the CLI prints its message and exits 1, no traceback."""
    from xedgesim.errors import EXIT_FAILED, XedgeError

    failure = smoke.SmokeFailure("the broker refused 'probe' (CONNACK code 5)")
    assert isinstance(failure, XedgeError)
    assert failure.exit_code == EXIT_FAILED
    assert failure.message == "the broker refused 'probe' (CONNACK code 5)"
