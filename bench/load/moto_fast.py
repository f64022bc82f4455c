"""moto for the load test: scripts/moto_server.py (moto_server, one request at a time), with
TransactWriteItems made O(1) in the table's size.

moto backs every transaction up by deep-copying each table it touches, to roll back on a
failed condition. Every issuance is a transaction on the tokens table, so the table's
growth makes each issuance slower than the last: past a few thousand tokens a single
transaction takes longer than the service's DynamoDB timeout, and a load test of 5,000
issuances measures moto's copying, not the function. Here a transaction keeps a copy of
only the items it touches, and a rollback puts those back. Conditions, the error answers
and atomicity (requests are serialized) are moto's own, unchanged.

    python bench/load/moto_fast.py -H 127.0.0.1 -p PORT
"""

import copy
import os
import runpy

import moto.dynamodb.models as models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_transact_write_items = DynamoDBBackend.transact_write_items


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models during a transaction:
    tables are not copied (the touched items are, below); anything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key_of(table, op):
    if "Item" in op:
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
        return key
    return op.get("Key")


def transact_write_items(self, transact_items):
    touched = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        key = _key_of(table, op) if table is not None else None
        if not key:
            continue
        try:
            current = self.get_item(table.name, key)
        except Exception:  # a malformed key: moto's own call reports it
            current = None
        old = copy.deepcopy(current.to_json()["Attributes"]) if current else None
        touched.append((table.name, key, old))
    models.copy = _TablesNotCopied
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, old in reversed(touched):
            if old is None:
                try:
                    self.delete_item(table_name, key)
                except Exception:
                    pass
            else:
                self.put_item(table_name, old)
        raise
    finally:
        models.copy = copy


DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runpy.run_path(os.path.join(root, "scripts", "moto_server.py"), run_name="__main__")
