"""Completes sales in a loop until killed; prints each committed seq (for the kill -9 test)."""

import sys
from pathlib import Path

from posd.config import keyfile
from posd.db.store import Store
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog
from posd.till.sale import Register

state = Path(sys.argv[1])
store = Store(state / "posd.db")
catalog = Catalog(store)
key_path = state / "till.key"
if not key_path.exists():
    keys = keyfile.generate()
    keyfile.save(key_path, keys)
    catalog.upsert(DEMO_PRODUCTS)
    identity.bind_new(store, keys)
keys = keyfile.load(key_path)
register = Register(store, catalog, keys)
print("started", flush=True)
while True:
    register.scan("4006381333931", 2)
    register.scan("5000112637922")
    done = register.pay("card", 258 + 189, "T-1")
    print(done.seq, flush=True)
