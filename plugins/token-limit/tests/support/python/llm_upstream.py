"""An OpenAI-style upstream on Python's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive).

Reads sized and chunked request bodies, answers chat completions as JSON or as SSE (deltas, a
usage event when the request asks for it, [DONE]), and reports usage of 10 prompt + 36
completion tokens. Prints its port on the first line of stdout.

With `--answer-before-body` it answers every request with the JSON completion as soon as the
headers arrived and only then reads the body, as servers that reject or answer early do: the
response headers reach the gateway while the request body may still be held by a filter.

This is the kind of upstream a user puts behind the gateway first; the test does not control how
it frames, buffers or closes.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USAGE = {"prompt_tokens": 10, "completion_tokens": 36, "total_tokens": 46}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_POST(self):
        if EARLY:
            self.send_json()
            self.read_body()
            return
        request = json.loads(self.read_body() or b"{}")
        if request.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()

            def event(payload):
                data = b"data: " + payload + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            for word in ["Hello", " world"]:
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                event(json.dumps(chunk).encode())
            if (request.get("stream_options") or {}).get("include_usage"):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [], "usage": USAGE}
                event(json.dumps(chunk).encode())
            event(b"[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_json()
        self.wfile.flush()

    def send_json(self):
        body = json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "Hello world"}}],
                           "usage": USAGE}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


EARLY = "--answer-before-body" in sys.argv[1:]
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
