"""moto server with DynamoDB requests applied one at a time, and cheaper transactions.

moto's DynamoDB transactions back up the whole table and restore it when a condition fails;
two requests interleaving on moto's threads can then lose or resurrect each other's writes.
DynamoDB itself is atomic, so the local stand-in serializes DynamoDB request handling. Other
services stay concurrent: an SQS long poll sleeps inside its request and must not hold
DynamoDB up.

moto also deep-copies the table once per *item* of a transaction (100 copies of the whole
table for a full one), which makes a 1,000-license order take minutes on a table of a few
thousand items. The copies are identical, so within one transaction the first is reused.

usage: python scripts/moto_server.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


class _CopyOncePerTransaction:
    """Stands in for the `copy` module inside moto's DynamoDB models during one transaction."""

    def __init__(self, real):
        self.real = real
        self.copies = {}

    def deepcopy(self, value):
        if id(value) not in self.copies:
            self.copies[id(value)] = (value, self.real.deepcopy(value))
        return self.copies[id(value)][1]


def copy_tables_once_per_transaction():
    real_copy = dynamodb_models.copy
    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        # Safe to swap a module global: DynamoDB requests run one at a time (see `serialized`).
        dynamodb_models.copy = _CopyOncePerTransaction(real_copy)
        try:
            return original(self, transact_items)
        finally:
            dynamodb_models.copy = real_copy

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return handle


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    copy_tables_once_per_transaction()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
