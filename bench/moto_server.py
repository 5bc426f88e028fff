"""moto_server for the benchmarks, with one change: TransactWriteItems backs up each table ONCE per call.

moto 5.2.5 deep-copies the whole table for every action of a transaction (before any action runs, so all
copies are the same pre-transaction state and only the last is kept for a rollback). Copying it once per table
gives the identical rollback and makes a 100-action transaction 100x cheaper, so a rotation of thousands of
clients finishes in minutes instead of hours. Request handling, conditions and results are unchanged.

Usage: python bench/moto_server.py -H 127.0.0.1 -p PORT   (same arguments as moto_server)
"""
import copy
import sys

import moto.dynamodb.models as models

_original = models.DynamoDBBackend.transact_write_items


class _OncePerObject:
    """Stands in for the `copy` module inside one transact_write_items call: the same object is copied once."""

    def __init__(self):
        self._copies = {}

    def deepcopy(self, obj, memo=None):
        key = id(obj)
        if key not in self._copies:
            self._copies[key] = (obj, copy.deepcopy(obj))  # keep obj referenced so its id stays unique
        return self._copies[key][1]


def transact_write_items(self, transact_items):
    models.copy = _OncePerObject()
    try:
        return _original(self, transact_items)
    finally:
        models.copy = copy


models.DynamoDBBackend.transact_write_items = transact_write_items

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
