"""A fake OpenAI-compatible chat-completions server for the tests (never a real model).

Its behaviour follows the alertname in the request: ``Slow*`` answers after ``slow_s`` seconds, anything
else at once; ``failing=True`` makes every request a 500. It counts requests per alertname. Like a real
model facing a prompt injection, it obeys an alert's annotations: one that says ``answer severity <s>``
gets severity ``<s>``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = {"severity": "critical", "category": "database", "confidence": 0.9,
          "reasoning": "The database is unreachable.", "action_items": ["Fail over"], "tags": ["llm"]}


class FakeModel:
    def __init__(self, *, slow_s: float = 0.0, failing: bool = False):
        self.slow_s = slow_s
        self.failing = failing
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeModel:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                alert = json.loads(body["messages"][1]["content"])
                name = alert["labels"].get("alertname", "")
                with model._lock:
                    model.requests[name] += 1
                if model.failing:
                    self._reply(500, {"error": "model overloaded"})
                    return
                if name.startswith("Slow"):
                    time.sleep(model.slow_s)
                answer = dict(ANSWER)
                said = " ".join(alert.get("annotations", {}).values()).split()
                for i, word in enumerate(said[:-2]):
                    if word.lower() == "answer" and said[i + 1].lower() == "severity":
                        answer["severity"] = said[i + 2].strip(".,;:!\"'").lower()
                content = json.dumps(answer)
                self._reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

            def _reply(self, status, document):
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
