"""Real receivers for the notifier's channels: an HTTP server recording webhook POSTs, an SMTP server
recording mails. Both run on 127.0.0.1 in a thread of the test process and can be told to fail."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from followback.runner import free_port


@dataclass
class Post:
    path: str
    key: str
    body: dict[str, Any]
    status: int


class _Server(ThreadingHTTPServer):
    # The standard library's backlog of 5 overflows under a burst of concurrent pushes; the kernel
    # then resets connections it had accepted, which a sender must count as "may have arrived".
    request_queue_size = 128


@dataclass
class WebhookReceiver:
    """Records every POST; answers ``fail_status`` to the next ``failures`` requests, 200 after."""

    failures: int = 0
    fail_status: int = 500
    delay_s: float = 0.0  # answer late (the request is recorded first)
    posts: list[Post] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
                with receiver._lock:
                    status = receiver.fail_status if receiver.failures > 0 else 200
                    receiver.failures = max(0, receiver.failures - 1)
                    key = self.headers.get("idempotency-key", "")
                    receiver.posts.append(Post(self.path, key, body, status))
                time.sleep(receiver.delay_s)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered(self, path: str = "/hook") -> list[Post]:
        """The POSTs to ``path`` that were answered 200, in arrival order."""
        with self._lock:
            return [p for p in self.posts if p.path == path and p.status == 200]


@dataclass
class SmtpReceiver:
    """A real SMTP server (aiosmtpd); answers 451 to the next ``failures`` mails."""

    failures: int = 0
    mails: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        if self.failures > 0:
            self.failures -= 1
            return "451 4.3.0 try again later"
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
