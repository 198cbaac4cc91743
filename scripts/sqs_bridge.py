"""Local stand-in for Lambda's SQS event source mapping (make dev).

Mirrors the mapping of infra/template.yaml (ImportWorkerFunction, Events.Uploads):
- up to IMPORT_WORKER_CONCURRENCY (default 4) invocations run at once, as Lambda runs
  concurrent instances of the worker (cargo lambda watch needs `--concurrency` as high to
  give each its own process: scripts/dev.sh passes it);
- each event carries at most `BatchSize` messages (read from the template: 1);
- a message is received only when an invocation slot is free, with the queue's visibility
  timeout (VisibilityTimeout, read from the template), so it is not received again while
  its invocation runs;
- ReportBatchItemFailures: only the messages not listed in `batchItemFailures` are deleted;
  a failed invocation deletes nothing, its messages come back after the visibility timeout.

usage: python scripts/sqs_bridge.py QUEUE_URL INVOKE_URL
"""

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import boto3

TEMPLATE = (Path(__file__).resolve().parent.parent / "infra" / "template.yaml").read_text()


def template_int(key):
    """The template's one `key: <int>` (the worker's only event source, the import queue)."""
    values = re.findall(rf"^\s*{key}:\s*(\d+)\s*$", TEMPLATE, re.MULTILINE)
    if len(values) != 1:
        sys.exit(f"sqs-bridge: expected one {key} in infra/template.yaml, found {values}")
    return int(values[0])


BATCH_SIZE = template_int("BatchSize")
VISIBILITY_TIMEOUT = template_int("VisibilityTimeout")
CONCURRENCY = int(os.environ.get("IMPORT_WORKER_CONCURRENCY", "4"))


def log(text):
    sys.stdout.write(f"{datetime.now().strftime('%H:%M:%S.%f')[:-3]} sqs-bridge: {text}\n")  # one write: threads
    sys.stdout.flush()


def event_of(messages, queue_arn, region):
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def invoke(sqs, queue_url, invoke_url, messages, payload):
    """One worker invocation; deletes the messages it did not report failed."""
    ids = ",".join(m["MessageId"][:8] for m in messages)
    log(f"invoke start [{ids}]")
    started = time.monotonic()
    request = urllib.request.Request(invoke_url, data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            answer = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, ValueError, OSError) as err:
        log(f"invoke failed [{ids}] ({err}); {len(messages)} message(s) left for redelivery")
        time.sleep(2)
        return
    failed = {f.get("itemIdentifier") for f in (answer or {}).get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    for m in done:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    log(f"invoke end [{ids}] {time.monotonic() - started:.1f}s: {len(done)} processed, {len(failed)} left for redelivery")


def main() -> None:
    queue_url, invoke_url = sys.argv[1], sys.argv[2]
    sqs = boto3.client("sqs")  # boto3 clients may be shared between threads
    region = sqs.meta.region_name
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    log(f"{CONCURRENCY} concurrent invocation(s), {BATCH_SIZE} message(s) per event")
    slots = threading.Semaphore(CONCURRENCY)

    def run(messages):
        try:
            invoke(sqs, queue_url, invoke_url, messages, json.dumps(event_of(messages, queue_arn, region)).encode())
        finally:
            slots.release()

    while True:
        slots.acquire()  # a free invocation slot first, then its messages
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            VisibilityTimeout=VISIBILITY_TIMEOUT,
            WaitTimeSeconds=5,
            AttributeNames=["All"],
        ).get("Messages", [])
        if received:
            threading.Thread(target=run, args=(received,), daemon=True).start()
        else:
            slots.release()


if __name__ == "__main__":
    main()
