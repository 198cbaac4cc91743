"""Cold start of every function: process start -> first response, peak RSS, binary and zip size;
and the same cold start for an equivalent Python handler using boto3 (bench/python_products).

Plays the Lambda Runtime API for a single invocation (an API Gateway HTTP API v2 event, or an
SQS event for the worker), starts the function's binary against it, and reports the time until
the function posts its response and the process's peak resident memory (VmHWM) at that moment.
Each function runs RUNS times (3 by default); the table shows the median.

usage: python bench/coldstart.py RELEASE_DIR API_KEY [FUNCTION ...]  (AWS_* and TABLE_NAME,
IMPORT_BUCKET from the environment; moto running). Naming functions runs only those (and the
Python comparison only with `products`).

The License API's functions (`/api/v4/`) also need LICENSE_API_SECRET (for the binary), and
LICENSE_API_KEY and LICENSE_SHARED_KEY (`provision license-api-key --company ID`) to sign their
request; without the last two they are skipped. Their request names product `cold`, which the
script first creates through the `products` binary (not measured), so that the check gets past
the catalog to its license lookup.
"""

import base64
import email.utils
import hashlib
import hmac
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))

# Each function and the request it gets: an authenticated call that reaches its handler's
# work (a lookup that finds nothing is fine: the cold path is the same).
FUNCTIONS = [
    ("products", "GET", "/api/v1/products/", None),
    ("product_features", "GET", "/api/v1/product-features/", None),
    ("product_custom_fields", "GET", "/api/v1/product-custom-fields/", None),
    ("license_templates", "GET", "/api/v1/license-templates/", None),
    ("customer_accounts", "GET", "/api/v1/customer-accounts/", None),
    ("customers", "GET", "/api/v1/customers/", None),
    ("not_found", "GET", "/api/v1/nothing/", None),
    ("create_order", "POST", "/api/v1/orders/create_order/", {"id": "cold", "items": []}),
    ("generate_license", "GET", "/api/v1/orders/generate_license/?product=cold&quantity=1", None),
    ("list_orders", "GET", "/api/v1/orders/", None),
    ("get_order", "GET", "/api/v1/orders/1/", None),
    ("list_licenses", "GET", "/api/v1/licenses/", None),
    ("get_license", "GET", "/api/v1/licenses/1/", None),
    ("update_features", "POST", "/api/v1/licenses/1/update_features/", {"product_features": []}),
    ("import_from_csv", "POST", "/api/v1/licenses/import_from_csv/", None),
    ("import_upload_url", "POST", "/api/v1/licenses/import_from_csv/upload_url/", {}),
    ("list_import_results", "GET", "/api/v1/licenses-import-results/", None),
    ("get_import_result", "GET", "/api/v1/licenses-import-results/1/", None),
    ("import_worker", "SQS", None, None),
    # The License API authenticates with an HMAC of the Date, not an Api-Key: its request is
    # signed (license_api_headers) so that the check gets past authentication to its work (the
    # secret, the credentials, the catalog, the license lookup: license_not_found is fine).
    ("check_license", "GET", "/api/v4/check_license?product=cold&license_key=COLD-1&hardware_id=cold", None),
]


def license_api_headers() -> dict:
    """`Date` (now, as an IMF-fixdate) and `Authorization` as the vendor's SDK signs a License API
    request (shared/src/license_api/auth.rs: the HMAC-SHA256 of its `signing_string` under the
    shared key, base64). The server refuses a Date more than 5 minutes off its clock."""
    date = email.utils.formatdate(usegmt=True)
    signing_string = f"licenseSpring\ndate: {date}".encode()
    mac = hmac.new(os.environ["LICENSE_SHARED_KEY"].encode(), signing_string, hashlib.sha256)
    signature = base64.b64encode(mac.digest()).decode()
    api_key = os.environ["LICENSE_API_KEY"]
    return {"date": date,
            "authorization": f'algorithm="hmac-sha256",headers="date",signature="{signature}",apiKey="{api_key}"'}


def api_gateway_event(method: str, target: str, api_key: str, body) -> dict:
    path, _, query = target.partition("?")
    headers = {"authorization": f"Api-Key {api_key}", "host": "bench.local", "x-forwarded-proto": "https",
               "content-type": "application/json"}
    if path.startswith("/api/v4/"):
        headers.update(license_api_headers())
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def sqs_test_event() -> dict:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bench"})
    return {"Records": [{"messageId": "cold-1", "receiptHandle": "r", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}]}


def cold_start(command: list, event: bytes) -> dict:
    """Starts `command` against a one-shot Runtime API; time to its response and its peak RSS."""
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
            self.send_response(202)
            self.end_headers()
            answered.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="1")
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not answered.wait(60):
        process.kill()
        sys.exit(f"{command}: no response within 60 s")
    with open(f"/proc/{process.pid}/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    process.kill()
    process.wait()
    server.shutdown()
    response = json.loads(result["body"])
    status = response.get("statusCode", "ok" if "batchItemFailures" in response else "?")
    return {"ms": (result["at"] - started) * 1000, "rss_mb": peak_kb / 1024, "status": status}


def zipped_size(binary: str) -> int:
    """The deployment package: the binary as `bootstrap`, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(binary, "bootstrap")
    return buffer.getbuffer().nbytes


def median_run(command: list, event: bytes, runs: int) -> dict:
    results = [cold_start(command, event) for _ in range(runs)]
    return {
        "ms": statistics.median(r["ms"] for r in results),
        "rss_mb": statistics.median(r["rss_mb"] for r in results),
        "status": results[0]["status"],
    }


def main() -> None:
    release, api_key, only = sys.argv[1], sys.argv[2], sys.argv[3:]
    unknown = set(only) - {name for name, *_ in FUNCTIONS}
    if unknown:
        sys.exit(f"unknown functions: {', '.join(sorted(unknown))}")
    runs = int(os.environ.get("RUNS", "3"))
    print("| function | first response ms | peak RSS MB | status | binary MB | zip MB |")
    print("|---|---|---|---|---|---|")
    rust_products = None
    can_sign = "LICENSE_API_KEY" in os.environ and "LICENSE_SHARED_KEY" in os.environ
    if can_sign:
        product = {"product_name": "cold", "short_code": "cold"}
        event = json.dumps(api_gateway_event("POST", "/api/v1/products/", api_key, product)).encode()
        cold_start([os.path.join(release, "products")], event)  # 201, or 400 when it exists already
    for name, method, path, body in FUNCTIONS:
        if only and name not in only:
            continue
        if path and path.startswith("/api/v4/") and not can_sign:
            print(f"{name}: skipped (no LICENSE_API_KEY and LICENSE_SHARED_KEY to sign its request)", file=sys.stderr)
            continue
        binary = os.path.join(release, name)
        if method == "SQS":
            event = json.dumps(sqs_test_event()).encode()
        else:
            event = json.dumps(api_gateway_event(method, path, api_key, body)).encode()
        measured = median_run([binary], event, runs)
        if name == "products":
            rust_products = measured
        print(f"| {name} | {measured['ms']:.1f} | {measured['rss_mb']:.1f} | {measured['status']} | "
              f"{os.path.getsize(binary) / 1e6:.1f} | {zipped_size(binary) / 1e6:.1f} |", flush=True)
    if rust_products is None:
        return

    # The same list of products, as a Python 3 + boto3 Lambda would serve it.
    event = json.dumps(api_gateway_event("GET", "/api/v1/products/", api_key, None)).encode()
    python = median_run([sys.executable, os.path.join(HERE, "python_products", "bootstrap.py")], event, runs)
    print()
    print("| `GET /api/v1/products/` cold | first response ms | peak RSS MB | status |")
    print("|---|---|---|---|")
    print(f"| Rust (`products`) | {rust_products['ms']:.1f} | {rust_products['rss_mb']:.1f} | {rust_products['status']} |")
    print(f"| Python 3 + boto3 | {python['ms']:.1f} | {python['rss_mb']:.1f} | {python['status']} |")
    print(f"| ratio Python / Rust | {python['ms'] / rust_products['ms']:.1f}x | "
          f"{python['rss_mb'] / rust_products['rss_mb']:.1f}x | |")


if __name__ == "__main__":
    main()
