"""The REST client's list of servers (CONNECT_URL of a cluster lists every Connect worker): a request goes to the
server that answered last and moves on to the next one when it gets no answer. A real HTTP server on loopback
answers; the other address has no listener."""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from thelook_datagen.ops.rest import Rest, RestError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"   # closed again: nothing listens there


def test_the_next_server_answers_when_the_first_does_not(server):
    dead = _dead_url()
    rest = Rest(f"{dead}, {server}/", "Kafka Connect", timeout=3)
    assert rest.call("GET", "/connectors") == {"path": "/connectors"}
    assert rest.url == server          # the one that answered is asked first from now on
    assert rest.call("GET", "/x") == {"path": "/x"}


def test_no_server_answers_names_all_of_them():
    a, b = _dead_url(), _dead_url()
    with pytest.raises(RestError) as err:
        Rest(f"{a},{b}", "Kafka Connect", timeout=2).call("GET", "/")
    assert err.value.unreachable and f"any of {a}, {b}" in str(err.value)
    with pytest.raises(RestError, match=f"not reachable at {a}:"):
        Rest(a, "Kafka Connect", timeout=2).call("GET", "/")
