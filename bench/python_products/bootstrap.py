"""What a user might otherwise deploy for `GET /api/v1/products/`: a Python 3 Lambda with boto3,
doing the same work as the Rust `products` function (API-key lookup by prefix with the
secret's SHA-256 compared in constant time, one Query of the company's products, the list
envelope). The loop below is the Lambda Runtime API client a custom runtime needs; AWS's
managed Python runtime runs an equivalent one.
"""

import hashlib
import hmac
import json
import os
import urllib.request

import boto3
from boto3.dynamodb.types import TypeDeserializer

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
deserialize = TypeDeserializer().deserialize


def respond(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body, default=str)}


def lambda_handler(event, _context):
    header = (event.get("headers") or {}).get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    prefix, _, secret = credentials.partition(".")
    if scheme != "Api-Key" or not prefix or not secret:
        return respond(403, {"detail": "Authentication credentials were not provided."})
    key = dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": f"APIKEY#{prefix}"}, "SK": {"S": "APIKEY"}},
                            ConsistentRead=True).get("Item")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if not key or key.get("revoked", {}).get("BOOL") or not hmac.compare_digest(digest, key["secret_sha256"]["S"]):
        return respond(403, {"detail": "Invalid API key."})
    company = key["company"]["N"]
    items = dynamodb.query(
        TableName=TABLE, ConsistentRead=True, KeyConditionExpression="PK = :pk AND begins_with(SK, :kind)",
        ExpressionAttributeValues={":pk": {"S": f"T#{company}"}, ":kind": {"S": "PRODUCT#"}},
    ).get("Items", [])
    products = [{k: deserialize(v) for k, v in item.items() if k not in ("PK", "SK", "entity")} for item in items]
    return respond(200, {"count": len(products), "next": None, "previous": None, "results": products[:20]})


def main():
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    while True:
        with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as invocation:
            request_id = invocation.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(invocation.read())
        result = json.dumps(lambda_handler(event, None)).encode()
        url = f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response"
        urllib.request.urlopen(urllib.request.Request(url, data=result, method="POST")).read()


if __name__ == "__main__":
    main()
