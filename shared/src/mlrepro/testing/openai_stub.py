"""A loopback OpenAI-compatible chat-completions endpoint for tests of code that samples through the ``openai``
backend (judges, agents): no network, no key, replies computed from the request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def openai_stub(reply: Callable[[dict], str | list[str]], usage_tokens: int | None = None) -> Iterator[str]:
    """Serve ``POST .../chat/completions`` on 127.0.0.1 while the block runs; yields the base URL (``.../v1``).

    ``reply(body)`` gets the request's JSON body and returns the assistant content: a string (the same for each of
    the ``n`` choices requested) or a list of strings (one choice each). ``usage_tokens``, when given, is reported as
    ``usage.completion_tokens``.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            content = reply(body)
            texts = [content] * int(body.get("n", 1) or 1) if isinstance(content, str) else list(content)
            out = {"id": "stub", "object": "chat.completion", "model": body.get("model"),
                   "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": t}}
                               for i, t in enumerate(texts)]}
            if usage_tokens is not None:
                out["usage"] = {"completion_tokens": usage_tokens}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
