"""Drives the real `openai` client against a gateway: CALLS chat completions alternating JSON and
streamed, on one keep-alive client, each bounded by TIMEOUT seconds. Prints one JSON line per
call ({"i", "kind", "ok", "error", "status", "seconds", "text"}) and a summary line last.

usage: openai_calls.py BASE_URL API_KEY CALLS TIMEOUT [json]   (json: no streamed calls)
"""
import json
import sys
import time

import openai

base_url, api_key, calls, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
json_only = sys.argv[5:] == ["json"]
client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=timeout,
                       default_headers={"x-api-key": api_key})
answered = 0
for i in range(calls):
    kind = "json" if i % 2 == 0 or json_only else "stream"
    started = time.monotonic()
    record = {"i": i, "kind": kind, "ok": False, "error": None, "status": None, "text": None}
    try:
        messages = [{"role": "user", "content": "Say hello"}]
        if kind == "json":
            reply = client.chat.completions.create(model="m", messages=messages)
            record["text"] = reply.choices[0].message.content
        else:
            stream = client.chat.completions.create(model="m", messages=messages, stream=True)
            record["text"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        record["ok"] = record["text"] == "Hello world"
    except openai.APIStatusError as e:
        record["error"] = type(e).__name__
        record["status"] = e.status_code
        record["body"] = e.body
    except Exception as e:  # timeouts, connection errors
        record["error"] = type(e).__name__ + ": " + str(e)
    record["seconds"] = round(time.monotonic() - started, 3)
    answered += record["ok"]
    print(json.dumps(record), flush=True)
print(json.dumps({"summary": True, "answered": answered, "calls": calls}), flush=True)
