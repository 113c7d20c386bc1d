#!/usr/bin/env python3
"""fake_sse_server.py: a tiny HTTP server that plays a scripted scenario,
for the tests of "evproc-client watch" (test/client_watch.sh).  Standard
library only.

Usage: fake_sse_server.py SCENARIO.json PORTFILE LOGFILE

SCENARIO.json is a list of steps, one per request, in order:
  {"status": 200,                      HTTP status
   "headers": [["Content-Type", "text/event-stream"], ...],
   "body": ["chunk", ...],             sent one by one (latin-1 strings are
                                       bytes; "bytes_hex" items are hex)
   "pause": 0.05,                      seconds between chunks
   "hold": 0 | -1,                     seconds to keep the connection open
                                       after the body; -1 until the client
                                       closes it
   "repeat": false}                    the last step may repeat forever
A request after the last step (without "repeat") gets 500.

The server listens on 127.0.0.1, an ephemeral port written to PORTFILE,
and appends one JSON line per request to LOGFILE:
  {"t": <monotonic seconds>, "path": "/...", "headers": {"name": "value"}}
(header names in lower case).
"""
import json
import os
import select
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

scenario_path, port_path, log_path = sys.argv[1:4]
with open(scenario_path) as f:
    steps = json.load(f)
state = {"next": 0}


def chunk_bytes(item):
    if isinstance(item, dict):
        if "bytes_hex" in item:
            return bytes.fromhex(item["bytes_hex"])
        if "repeat_char" in item:
            return item["repeat_char"].encode("latin-1") * item["count"]
    return item.encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with open(log_path, "a") as log:
            log.write(json.dumps({
                "t": time.monotonic(),
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }) + "\n")
        i = state["next"]
        if i >= len(steps):
            if steps and steps[-1].get("repeat"):
                step = steps[-1]
            else:
                step = {"status": 500,
                        "headers": [["Content-Type", "application/json"]],
                        "body": ['{"error": "scenario over"}']}
        else:
            step = steps[i]
            state["next"] = i + 1
        self.send_response_only(step.get("status", 200))
        for name, value in step.get("headers", []):
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for n, item in enumerate(step.get("body", [])):
                if n > 0 and step.get("pause"):
                    time.sleep(step["pause"])
                self.wfile.write(chunk_bytes(item))
                self.wfile.flush()
            hold = step.get("hold", 0)
            end = time.monotonic() + hold if hold >= 0 else None
            while end is None or time.monotonic() < end:
                r, _, _ = select.select([self.connection], [], [], 0.1)
                if r and not self.connection.recv(4096):
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_path + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_path + ".tmp", port_path)
server.serve_forever()
