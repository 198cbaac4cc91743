"""Cold start of one HTTP function: process start -> first response, and peak RSS.

Plays the Lambda Runtime API for a single invocation (an API Gateway HTTP API v2 event), starts
the function's binary against it, and reports the time until the function posts its response
and the process's peak resident memory (VmHWM) at that moment.

usage: python bench/coldstart.py BINARY PATH API_KEY  (AWS_* and TABLE_NAME from the environment)
"""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def api_gateway_event(path: str, api_key: str) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Api-Key {api_key}", "host": "bench.local", "x-forwarded-proto": "https"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.local",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def main() -> None:
    binary, path, api_key = sys.argv[1], sys.argv[2], sys.argv[3]
    event = json.dumps(api_gateway_event(path, api_key)).encode()
    answered = threading.Event()
    result: dict = {}

    class RuntimeApi(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_GET(self):
            if answered.is_set():
                time.sleep(3600)  # the function waits for its next event; we are done with it
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Content-Length", str(len(event)))
            self.end_headers()
            self.wfile.write(event)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            result["at"] = time.perf_counter()
            result["body"] = body
            result["path"] = self.path
            self.send_response(202)
            self.end_headers()
            answered.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="1")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not answered.wait(60):
        process.kill()
        sys.exit("no response within 60 s")
    with open(f"/proc/{process.pid}/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    process.kill()
    server.shutdown()
    response = json.loads(result["body"])
    print(json.dumps({
        "binary": os.path.basename(binary),
        "first_response_ms": round((result["at"] - started) * 1000, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "status": response.get("statusCode"),
    }))


if __name__ == "__main__":
    main()
