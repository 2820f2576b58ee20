"""Tiny threaded HTTP server helper shared by the local fakes.

Every fake in :mod:`pitstop.fakes` is a :class:`FakeServer` subclass: a werkzeug WSGI
server bound to ``127.0.0.1`` on a free port, serving from a daemon thread.

* ``start()`` / ``stop()``, or use it as a context manager (``with FakeX() as fake:``).
* ``.url`` is ``http://127.0.0.1:<port>`` (no trailing slash).
* Every request received is recorded (thread-safe) as a :class:`RecordedRequest` with the
  method, path, query, form (first value and all values), JSON body, uploaded files, headers
  and raw body. Accessors: ``requests()``, ``last_request()``, ``clear_requests()``,
  ``wait_for_request()``.
* ``fail_next(n, ...)`` queues misbehaviour; each fake turns a queued :class:`Failure` into its
  own API's error shape (``error_response``).

:class:`Receiver` is a plain recording sink (answers 200 with a configurable body). Use it as the
"merchant" side in tests, e.g. to receive the M-Pesa STK callback or Twilio status callbacks.

None of this talks to the internet; nothing binds to anything but 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "Failure",
    "FakeServer",
    "RecordedRequest",
    "Receiver",
    "json_response",
]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> Response:
    """A JSON response with compact UTF-8 output (non-ASCII kept as is)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status=status, headers=headers,
                    content_type=content_type)


@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    query_string: str
    query: dict[str, str]
    form: dict[str, str]
    form_multi: dict[str, list[str]]
    json: Any
    files: dict[str, UploadedFile]
    #: werkzeug ``Headers``: case-insensitive (``rec.headers["x-request-id"]`` works).
    headers: Headers
    body: bytes
    remote_addr: str | None
    at: float = field(default_factory=time.time)
    #: Set by the fake: the HTTP status it answered with, and the JSON it answered (if any).
    response_status: int | None = None
    response_json: Any = None
    #: Free-form annotations a fake may add (e.g. Telegram's API method name).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        """Query, form and JSON-object body merged (later wins), as most APIs treat them."""
        merged: dict[str, Any] = dict(self.query)
        merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name, default)


@dataclass
class Failure:
    """A queued misbehaviour. Fakes interpret the fields they understand."""

    status: int
    match: Callable[[RecordedRequest], bool] | None = None
    options: dict[str, Any] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002, D102
        if type == "error":
            super().log(type, message, *args)


class FakeServer:
    """Base class: threaded WSGI server on 127.0.0.1 with request recording and failure queue.

    Subclasses implement :meth:`handle` (``RecordedRequest, werkzeug Request -> Response``)
    and may override :meth:`error_response` to render a queued :class:`Failure`.
    """

    #: Human name used in repr and error messages.
    name = "fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._failures: deque[Failure] = deque()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        #: How many queued failures were served (by HTTP status).
        self.failures_served: dict[int, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self.on_stop()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def on_stop(self) -> None:
        """Hook for subclasses (cancel timers, wake long polls)."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<{type(self).__name__} {where}>"

    # ------------------------------------------------------------------ recording
    def requests(self, method: str | None = None, path: str | None = None,
                 path_contains: str | None = None) -> list[RecordedRequest]:
        """Recorded requests in arrival order, optionally filtered."""
        with self._lock:
            out = list(self._requests)
        if method is not None:
            out = [r for r in out if r.method == method.upper()]
        if path is not None:
            out = [r for r in out if r.path == path]
        if path_contains is not None:
            out = [r for r in out if path_contains in r.path]
        return out

    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for_request(self, predicate: Callable[[RecordedRequest], bool] | None = None,
                         timeout: float = 5.0, count: int = 1) -> list[RecordedRequest]:
        """Block until ``count`` recorded requests satisfy ``predicate``; return them.

        Raises ``TimeoutError`` if they do not arrive in time.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._requests if predicate is None or predicate(r)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.name}: {len(found)}/{count} matching requests after {timeout}s")
                self._cond.wait(left)

    # ------------------------------------------------------------------ misbehaviour
    def fail_next(self, n: int = 1, status: int = 500,
                  match: Callable[[RecordedRequest], bool] | None = None,
                  **options: Any) -> None:
        """Answer the next ``n`` requests (that satisfy ``match``) with an error.

        Subclasses document which ``options`` they understand and wrap this with API-specific
        keyword arguments; every server understands ``delay`` (seconds to hang first).
        """
        with self._lock:
            for _ in range(n):
                self._failures.append(Failure(status=status, match=match, options=dict(options)))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    @property
    def pending_failures(self) -> int:
        with self._lock:
            return len(self._failures)

    def _take_failure(self, rec: RecordedRequest) -> Failure | None:
        with self._lock:
            for i, failure in enumerate(self._failures):
                if failure.match is None or failure.match(rec):
                    del self._failures[i]
                    self.failures_served[failure.status] = (
                        self.failures_served.get(failure.status, 0) + 1)
                    return failure
        return None

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        """Render a queued failure. Subclasses override to speak their API's error format."""
        return json_response({"error": failure.options.get("message", "fake failure")},
                             status=failure.status)

    def annotate(self, rec: RecordedRequest) -> None:
        """Hook: add ``rec.meta`` entries before failures are matched (e.g. the API method)."""

    def should_fail(self, rec: RecordedRequest) -> bool:
        """Whether queued failures may apply to this request (subclasses can exempt paths)."""
        return True

    # ------------------------------------------------------------------ WSGI plumbing
    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        raise NotImplementedError

    @staticmethod
    def _record(request: Request) -> RecordedRequest:
        body = request.get_data(cache=True)
        parsed_json: Any = None
        if request.mimetype == "application/json" or (
                body[:1] in (b"{", b"[") and request.mimetype in ("", "text/plain")):
            try:
                parsed_json = json.loads(body.decode("utf-8")) if body else None
            except (ValueError, UnicodeDecodeError):
                parsed_json = None
        form_multi = {k: request.form.getlist(k) for k in request.form.keys()}
        files = {}
        for key, storage in request.files.items(multi=True):
            files[key] = UploadedFile(field=key, filename=storage.filename,
                                      content_type=storage.content_type,
                                      content=storage.read())
        return RecordedRequest(
            method=request.method,
            path=request.path,
            query_string=request.query_string.decode("latin-1"),
            query={k: v for k, v in request.args.items()},
            form={k: v[0] for k, v in form_multi.items()},
            form_multi=form_multi,
            json=parsed_json,
            files=files,
            headers=Headers(list(request.headers.items())),
            body=body,
            remote_addr=request.remote_addr,
        )

    def _wsgi(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        # Read the body before werkzeug parses the form so the raw bytes are kept as well.
        request.get_data(cache=True, parse_form_data=False)
        rec = self._record(request)
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()
        try:
            self.annotate(rec)
            failure = self._take_failure(rec) if self.should_fail(rec) else None
            if failure is not None:
                rec.meta["failure"] = True
                time.sleep(failure.options.get("delay", 0))  # a server that hangs before it fails
                response = self.error_response(failure, rec)
            else:
                response = self.handle(rec, request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        except Exception as exc:  # a bug in the fake must be visible, not a hang
            response = json_response({"fake_error": repr(exc)}, status=599)
            rec.meta["exception"] = exc
        rec.response_status = response.status_code
        if response.mimetype == "application/json":
            try:
                rec.response_json = json.loads(response.get_data())
            except ValueError:
                pass
        with self._cond:
            self._cond.notify_all()
        return response(environ, start_response)


class Receiver(FakeServer):
    """Recording HTTP sink: answers every request with ``status`` and ``body`` (JSON if not str).

    ``responder`` (optional) is called with each :class:`RecordedRequest` and may return a
    werkzeug ``Response`` to answer instead.
    """

    name = "receiver"

    def __init__(self, status: int = 200, body: Any = None,
                 responder: Callable[[RecordedRequest], Response | None] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.status = status
        self.body = {"ResultCode": 0, "ResultDesc": "Accepted"} if body is None else body
        self.responder = responder

    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        if self.responder is not None:
            answer = self.responder(rec)
            if answer is not None:
                return answer
        if isinstance(self.body, (str, bytes)):
            return Response(self.body, status=self.status)
        return json_response(self.body, status=self.status)

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        return Response(failure.options.get("message", "receiver failure"),
                        status=failure.status)
