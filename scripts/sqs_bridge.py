"""Local stand-in for Lambda's SQS event source mapping (make dev).

Long-polls the import queue, invokes the worker through cargo lambda watch's invocation
endpoint with an SQS event, and deletes only the messages the worker did not report in
`batchItemFailures` (ReportBatchItemFailures). A failed invocation deletes nothing: the
messages come back after their visibility timeout, as on AWS.

usage: python scripts/sqs_bridge.py QUEUE_URL INVOKE_URL
"""

import json
import sys
import time
import urllib.error
import urllib.request

import boto3


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


def main() -> None:
    queue_url, invoke_url = sys.argv[1], sys.argv[2]
    sqs = boto3.client("sqs")
    region = sqs.meta.region_name
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            continue
        payload = json.dumps(event_of(received, queue_arn, region)).encode()
        request = urllib.request.Request(invoke_url, data=payload, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, ValueError) as err:
            print(f"sqs-bridge: worker invocation failed ({err}); {len(received)} message(s) left for redelivery", flush=True)
            time.sleep(2)
            continue
        failed = {f.get("itemIdentifier") for f in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in failed]
        for m in done:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        print(f"sqs-bridge: {len(done)} processed, {len(failed)} left for redelivery", flush=True)


if __name__ == "__main__":
    main()
