"""SSRF: without WEBHOOK_ALLOW_INSECURE a delivery connects only to public addresses.

The check is at the connect step (service/jobs/guarded_http.py): the name is resolved once,
every address is checked, and the socket is opened to the checked address. Refusals of
private and metadata addresses are proven at that seam, with a stub resolver and a
recording connector standing in for the network: no test here attempts a connection to
anything but 127.0.0.1.
"""

from __future__ import annotations

import threading

import httpcore
import httpx
import pytest

from service.data.outbox import Outbox
from service.data.pool import create_pool
from service.data.queries import Queries
from service.domain.webhooks import is_public_address
from service.jobs.deliver_webhooks import DeliverWebhooks
from service.jobs.guarded_http import AddressRefused, GuardedBackend, guarded_client
from service.jobs.metrics import REFUSALS
from tests.conftest import make_config
from tests.webhook_receiver import quiet_webhooks, receiver, wait_until  # noqa: F401 - an autouse fixture


class RecordingConnector(httpcore.NetworkBackend):
    """Stands in for the network: records each connection asked for, connects to none
    but 127.0.0.1 (and only when a test allows it)."""

    def __init__(self, allow_loopback: bool = False) -> None:
        self.connects: list[tuple[str, int]] = []
        self._allow_loopback = allow_loopback
        self._real = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        if self._allow_loopback and host == "127.0.0.1":
            return self._real.connect_tcp(host, port, timeout, local_address, socket_options)
        raise httpcore.ConnectError("the test connector reaches nothing")


def stub_resolver(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "192.168.1.10",
        "172.16.0.1",
        "::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(address):
    resolve = stub_resolver({"hooks.example.com": [address]})
    connector = RecordingConnector()
    client = guarded_client(False, resolve=resolve, inner=connector)
    with pytest.raises(httpx.ConnectError) as caught:
        client.post("https://hooks.example.com/in", content=b"{}")
    assert isinstance(caught.value.__cause__, AddressRefused)
    assert resolve.calls == ["hooks.example.com"]
    assert connector.connects == []


def test_one_private_address_among_public_ones_refuses_the_name():
    resolve = stub_resolver({"mixed.example.com": ["93.184.215.14", "10.0.0.1"]})
    connector = RecordingConnector()
    client = guarded_client(False, resolve=resolve, inner=connector)
    with pytest.raises(httpx.ConnectError):
        client.post("https://mixed.example.com/", content=b"{}")
    assert connector.connects == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_an_ip_literal_url_is_checked_the_same_way(address):
    connector = RecordingConnector()
    client = guarded_client(False, resolve=stub_resolver({address: [address]}), inner=connector)
    with pytest.raises(httpx.ConnectError):
        client.post(f"https://{address}/latest/meta-data/", content=b"{}")
    assert connector.connects == []


def test_the_connection_goes_to_the_checked_address_not_to_the_name():
    # Resolved once; the socket is asked for the address that passed, never for the name,
    # so a second lookup (DNS rebinding) has no chance to answer differently.
    resolve = stub_resolver({"hooks.example.com": ["93.184.215.14"]})
    connector = RecordingConnector()
    client = guarded_client(False, resolve=resolve, inner=connector)
    with pytest.raises(httpx.ConnectError):
        client.post("https://hooks.example.com:8443/in", content=b"{}")
    assert resolve.calls == ["hooks.example.com"]
    assert connector.connects == [("93.184.215.14", 8443)]


def test_localhost_through_the_real_resolver_is_refused():
    connector = RecordingConnector()
    client = guarded_client(False, inner=connector)
    with pytest.raises(httpx.ConnectError) as caught:
        client.post("https://localhost:9/in", content=b"{}")
    assert isinstance(caught.value.__cause__, AddressRefused)
    assert connector.connects == []


def test_plain_http_is_refused_without_insecure_mode():
    connector = RecordingConnector()
    client = guarded_client(False, resolve=stub_resolver({}), inner=connector)
    with pytest.raises(httpx.ConnectError, match="WEBHOOK_ALLOW_INSECURE"):
        client.post("http://hooks.example.com/in", content=b"{}")
    assert connector.connects == []


def test_redirects_are_not_followed():
    with receiver([307]) as rx:
        client = guarded_client(True)
        response = client.post(rx.url, content=b"{}")
    assert response.status_code == 307 and len(rx.requests) == 1


def test_insecure_mode_connects_to_loopback_through_the_same_seam():
    with receiver([204]) as rx:
        connector = RecordingConnector(allow_loopback=True)
        resolve = stub_resolver({"receiver.test": ["127.0.0.1"]})
        client = guarded_client(True, resolve=resolve, inner=connector)
        response = client.post(f"http://receiver.test:{rx.port}/hook", content=b"{}")
    assert response.status_code == 204
    assert connector.connects == [("127.0.0.1", rx.port)]
    # The Host header still names the URL's host.
    assert rx.requests[0].headers["host"] == f"receiver.test:{rx.port}"


def test_the_backend_refuses_unix_sockets():
    with pytest.raises(AddressRefused):
        GuardedBackend().connect_unix_socket("/var/run/docker.sock")


def test_metadata_and_private_ranges_are_not_public():
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "10.0.0.1"):
        assert not is_public_address(address)
    assert is_public_address("93.184.215.14")


def test_a_worker_without_insecure_mode_refuses_a_loopback_target_and_retries_later(
    database_url, db, user_id
):
    """End to end: the stored URL points at a live loopback receiver, which gets nothing."""
    queries = Queries.load()
    config = make_config(database_url, POOL_MIN_SIZE="0")
    pool = create_pool(config, queries)
    pool.open(wait=True, timeout=10)
    job = DeliverWebhooks(pool, queries, concurrency=2, allow_insecure=False)
    refusals = REFUSALS._value.get()
    try:
        with receiver() as rx:
            # Stored directly: the API (without insecure mode) would refuse the http URL's
            # form already; an https URL to 127.0.0.1 is refused at the connect step.
            db.execute(
                "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
                (
                    user_id,
                    f"https://127.0.0.1:{rx.port}/hook",
                    ["task.created"],
                    "whsec_" + "QUFB" * 11,
                ),
            )
            event_id = Outbox(pool, queries).emit(user_id, "task.created", {})
            stopping = threading.Event()
            row = wait_until(
                lambda: (
                    job.run_once(stopping) is not None
                    and db.execute(
                        "SELECT * FROM webhook_delivery_attempts WHERE event_id = %s", (event_id,)
                    ).fetchone()
                )
            )
            assert rx.requests == []
        assert row["status"] == "pending" and row["response_code"] is None
        assert row["error"].startswith("refused")
        assert REFUSALS._value.get() == refusals + 1
    finally:
        job.stop()
        pool.close()
