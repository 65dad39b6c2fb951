"""An OpenAI-style upstream on Python's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive).

Reads sized and chunked request bodies, answers chat completions as JSON or as SSE (deltas, a
usage event when the request asks for it, [DONE]), and reports usage of 10 prompt + 36
completion tokens. Prints its port on the first line of stdout.

With `--gzip` it honours `Accept-Encoding: gzip` as many servers do: JSON bodies are gzipped and
SSE streams are gzipped event by event (each flushed), so a client that asked for gzip (the
openai client always does) gets bytes that only a gzip decoder can read.

With `--answer-before-body` it answers every request with the JSON completion as soon as the
headers arrived and only then reads the body, as servers that reject or answer early do: the
response headers reach the gateway while the request body may still be held by a filter.

This is the kind of upstream a user puts behind the gateway first; the test does not control how
it frames, buffers or closes.
"""
import gzip
import json
import sys
import zlib
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

    def gzipped(self):
        return GZIP and "gzip" in self.headers.get("accept-encoding", "").lower()

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
            compressor = None
            if self.gzipped():
                self.send_header("content-encoding", "gzip")
                compressor = zlib.compressobj(wbits=31)
            self.end_headers()

            def write_chunk(data):
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

            def event(payload):
                data = b"data: " + payload + b"\n\n"
                if compressor:
                    data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
                write_chunk(data)

            for word in ["Hello", " world"]:
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                event(json.dumps(chunk).encode())
            if (request.get("stream_options") or {}).get("include_usage"):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [], "usage": USAGE}
                event(json.dumps(chunk).encode())
            event(b"[DONE]")
            if compressor:
                write_chunk(compressor.flush())
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
        if self.gzipped():
            body = gzip.compress(body)
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


EARLY = "--answer-before-body" in sys.argv[1:]
GZIP = "--gzip" in sys.argv[1:]
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
