"""moto server with DynamoDB requests applied one at a time.

moto's DynamoDB transactions back up the whole table and restore it when a condition fails;
two requests interleaving on moto's threads can then lose or resurrect each other's writes.
DynamoDB itself is atomic, so the local stand-in serializes DynamoDB request handling. Other
services stay concurrent: an SQS long poll sleeps inside its request and must not hold
DynamoDB up.

usage: python scripts/moto_server.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


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
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
