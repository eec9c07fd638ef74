"""HTTP plumbing shared by the fake services: a server on 127.0.0.1 with one thread per
connection, HTTP/1.1 with keep-alive, request bodies (chunked too), recording, fault injection and
responses. Each service's handler subclasses SandboxHandler and routes to its emulation.
Network faults happen on the connection's socket: a FIN after part of the body (truncate), an
RST (SO_LINGER 0, then close), a pause mid-body (stall), a trickled body (slow).
"""

import json
import os
import socket
import struct
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import jdump
from .recorder import Recorder


class BadRequest(Exception):
    pass


class NetworkFault(Exception):
    """The connection was cut on purpose mid-response: nothing more to write."""


class SandboxHandler(BaseHTTPRequestHandler):
    """Shared request handling: body reading, recording, fault injection, responses."""

    protocol_version = "HTTP/1.1"
    server_version = "canaryd-sandbox/1"
    sys_version = ""
    service = "?"

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    @property
    def sb(self):
        return self.server.sandbox

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 64 * 1024 * 1024:
            raise BadRequest("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _handle(self):
        t0 = time.time()
        u = urllib.parse.urlsplit(self.path)
        self.req_path = u.path
        self.req_query = u.query
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        self.method = self.command
        try:
            self.body = self._read_body()
        except (BadRequest, ValueError):
            self.body = b""
            self.close_connection = True
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        self.rec = self.sb.recorder.begin(self.service, self.method, self.req_path, self.req_query,
                                          headers, self.body)
        self.responded = False
        self.netfault = None
        try:
            fault = self.sb.faults.take(self.service, self.method, self.req_path, self.req_query)
            if fault:
                self.rec["fault"] = fault["id"]
                if fault["delay_ms"]:
                    time.sleep(fault["delay_ms"] / 1000.0)
                if fault.get("process") and (fault["drop_connection"] or fault["reset"] is True or
                                             fault["status"] is not None):
                    # the request takes effect, but its answer is lost or replaced: the
                    # ambiguous outcome a client must not resend blindly after
                    self.swallow = True
                    try:
                        self.route()
                    finally:
                        self.swallow = False
                        self.responded = False
                if fault["reset"] is True:
                    self.rec["status"] = 0
                    self.rec["response_body"] = "(connection reset)"
                    self.reset_connection()
                    return
                if fault["drop_connection"]:
                    self.close_connection = True
                    self.rec["status"] = 0
                    self.rec["response_body"] = "(connection dropped)"
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault["status"] is not None:
                    hdrs = dict(fault["headers"])
                    ctype = hdrs.pop("Content-Type", hdrs.pop("content-type", None))
                    if ctype is None:
                        ctype = self.default_fault_ctype(fault["body"])
                    self.send(int(fault["status"]), fault["body"], ctype, hdrs)
                    return
                if (fault["stall_ms"] or fault["truncate"] or fault["reset"] or
                        fault["slow_bytes_per_s"]):
                    self.netfault = fault  # the response's body (or watch stream) gets it
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except NetworkFault:
            self.close_connection = True
        except Exception:  # a sandbox bug must not kill the connection silently
            self.sb.log.log("%s %s %s: internal error\n%s" % (self.service, self.method, self.path,
                                                             traceback.format_exc()))
            if not self.responded:
                self.send(500, "sandbox internal error\n", "text/plain")
        finally:
            self.rec["duration_ms"] = round((time.time() - t0) * 1000, 3)
            self.sb.log.log("%-7s %s %s -> %s" % (self.service, self.method, self.path,
                                                 self.rec["status"]))

    def default_fault_ctype(self, body):
        return "application/json" if body[:1] in ("{", "[") else "text/plain; charset=utf-8"

    def send(self, status, body, ctype="application/json", headers=None):
        if getattr(self, "swallow", False):
            return  # a "process" fault: the real answer is replaced by the fault's
        if isinstance(body, (dict, list)):
            body = jdump(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.responded = True
        self.rec["status"] = status
        self.rec["response_body"] = body.decode("utf-8", "replace")[: Recorder.MAX_BODY]
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        nf, self.netfault = getattr(self, "netfault", None), None
        clen = len(body)
        if nf and nf["truncate"] and clen < 2:
            clen += 16  # nothing (or one byte) to cut: promise more than there is
        self.send_header("Content-Length", str(clen))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.method == "HEAD":
            body = b""
        if nf is None:
            self.wfile.write(body)
            return
        self.write_faulted(nf, body)

    def write_faulted(self, nf, body):
        """Writes body (its headers are out) as the network fault nf wants it."""
        half = len(body) // 2
        if nf["truncate"]:
            self.wfile.write(body[:half])
            self.rec["network"] = "truncated after %d of %d bytes" % (half, len(body))
            self.close_fin()
            raise NetworkFault()
        if nf["reset"]:  # "mid-body"
            self.wfile.write(body[:half])
            self.rec["network"] = "reset after %d of %d bytes" % (half, len(body))
            self.reset_connection()
            raise NetworkFault()
        if nf["stall_ms"]:
            self.wfile.write(body[:half])
            self.rec["network"] = "stalled %d ms after %d bytes" % (nf["stall_ms"], half)
            time.sleep(nf["stall_ms"] / 1000.0)
            self.wfile.write(body[half:])
            return
        rate = max(1, nf["slow_bytes_per_s"])
        piece = max(1, rate // 20)
        self.rec["network"] = "trickled at %d B/s" % rate
        for i in range(0, len(body), piece):
            self.wfile.write(body[i:i + piece])
            time.sleep(len(body[i:i + piece]) / rate)

    def close_fin(self):
        """Ends the connection with a FIN: the client sees the end of the stream."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset_connection(self):
        """Ends the connection with an RST (SO_LINGER 0, then close): the client sees
        ECONNRESET. The descriptor is closed here, so the server's own close is a no-op."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
        except OSError:
            pass

    def json_body(self):
        """Decoded JSON request body, or raises ValueError."""
        return json.loads(self.body.decode("utf-8"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port, handler, sandbox):
        self.sandbox = sandbox
        super().__init__(("127.0.0.1", port), handler)
