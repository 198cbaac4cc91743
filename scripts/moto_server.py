"""moto server with DynamoDB requests applied one at a time, and cheaper transactions.

moto's DynamoDB transactions back up the whole table and restore it when a condition fails;
two requests interleaving on moto's threads can then lose or resurrect each other's writes.
DynamoDB itself is atomic, so the local stand-in serializes DynamoDB request handling. Other
services stay concurrent: an SQS long poll sleeps inside its request and must not hold
DynamoDB up.

moto also deep-copies the whole table for every item of a transaction (to roll back on a
failed condition), which makes transactions cost O(table size): a 1,000-license order took
minutes on a table of a few thousand items, and an import of 100,000 rows would take hours.
Here a transaction checks its conditions first and keeps an undo log of the items it
touches, so it costs O(its own items).

usage: python scripts/moto_server.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb import exceptions
from moto.dynamodb.comparisons import get_filter_expression
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


def transact_write_items(self, transact_items):
    """moto's transaction with an undo log of the items it touches instead of a backup copy
    of every table it names. Conditions are checked first, against the state before the
    transaction (as DynamoDB does: one transaction touches an item at most once); only if all
    hold are the writes applied."""
    if len(transact_items) > 100:
        raise exceptions.TooManyTransactionsException()
    steps, errors, seen = [], [], set()
    for entry in transact_items:
        if len(entry) > 1:
            raise exceptions.TransactWriteSingleOpException()
        op_type, op = next(iter(entry.items()))
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(dict(sorted(key.items()))))
        if identity in seen:
            raise exceptions.MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        steps.append((op_type, op, key, current.to_json()["Attributes"] if current else None))
    if any(code is not None for code, _, _ in errors):
        raise exceptions.TransactionCanceledException(errors)
    undo = []
    try:
        for op_type, op, key, before in steps:
            name = op["TableName"]
            undo.append((name, key, before))
            if op_type == "Put":
                self.put_item(name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(name, key)
            elif op_type == "Update":
                self.update_item(
                    name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
    except Exception:
        for name, key, before in reversed(undo):
            if before is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, before)
        raise


def cheap_transactions():
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
    cheap_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
