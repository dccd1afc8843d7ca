"""The server's problem+json answers come back as the same ``FStoreError`` classes, with their
details; transport failures and bad set-ups are typed errors too."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fstore import Client, StandardScaler
from fstore.errors import (
    AlreadyExistsError,
    ConfigurationError,
    DependencyError,
    FStoreError,
    NotFoundError,
    StoreUnavailableError,
    TypeMismatchError,
    ValidationError,
)
from server_redis import free_port


def test_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError, match="feature 'ghost' does not exist") as caught:
        client.get_feature("ghost")
    assert caught.value.details == {"feature": "ghost"}
    with pytest.raises(NotFoundError):
        client.get_feature_value("ghost", "c1")  # no such feature: not "no value"
    with pytest.raises(NotFoundError, match=r"no version 9\.9\.9"):
        client.get_version("amount", "9.9.9")


def test_conflicts(client: Client) -> None:
    with pytest.raises(AlreadyExistsError, match="customer"):
        client.create_entity({"name": "customer"})
    with pytest.raises(DependencyError, match="amount_x2") as caught:
        client.delete_feature("amount")
    assert caught.value.exit_code == 5


def test_bad_row_is_named(client: Client) -> None:
    batch = [{"entity_id": "c1", "value": 1.0}, {"entity_id": "c2", "value": "lots"}]
    with pytest.raises(TypeMismatchError, match="row 1") as caught:
        client.store_feature_values("amount", batch)
    assert caught.value.details["row"] == 1
    assert client.get_feature_value("amount", "c1").value == 20.0  # nothing was stored


def test_request_validation_is_a_validation_error(client: Client) -> None:
    with pytest.raises(ValidationError, match="limit") as caught:
        client.history(limit=0)
    assert caught.value.details["errors"][0]["loc"] == ["query", "limit"]
    with pytest.raises(ValidationError, match="timestamp"):
        client.get_historical_features([{"customer_id": "c1"}], ["amount"])


def test_what_the_api_cannot_do_fails_before_sending(client: Client) -> None:
    fitted = StandardScaler().fit([1.0, 2.0])
    with pytest.raises(ValidationError, match="fitted transformer"):
        client.create_feature({"name": "pre_fitted", "entity": "customer"}, fitted)
    with pytest.raises(ValidationError, match="at least one feature"):
        client.get_historical_features([], [])


def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as client, pytest.raises(StoreUnavailableError, match=url) as caught:
        client.list_entities()
    assert caught.value.details["store"] == url and caught.value.exit_code == 7


def test_a_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="http://"):
        Client("localhost:8000")


class _Gateway(BaseHTTPRequestHandler):
    """A proxy in front of a dead server: HTML error pages, not problem+json."""

    def do_GET(self) -> None:
        status = 502 if self.path.startswith("/api/v1/entities") else 500
        body = b"<html><body>Bad gateway</body></html>"
        self.send_response(status)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_answers_that_are_not_problems_map_by_status(gateway: str) -> None:
    with Client(gateway) as client:
        with pytest.raises(StoreUnavailableError, match=r"HTTP 502 Bad Gateway .*Bad gateway") as caught:
            client.list_entities()
        assert caught.value.details == {"store": gateway}
        with pytest.raises(FStoreError, match="HTTP 500") as other:
            client.list_groups()
        assert type(other.value) is FStoreError


def test_without_httpx_the_client_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['httpx'] = None  # as if it were not installed\n"
        "from fstore.errors import ConfigurationError\n"
        "try:\n"
        "    from fstore import Client\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "pip install 'fstore[client]'" in out.stdout
