#!/usr/bin/env python3
"""Reference for docs/performance.md: how fast this machine's SQLite takes 1 MiB blobs.

usage: python3 benches/sqlite_blobs.py PAGE_SIZE SYNCHRONOUS BLOBS_PER_TRANSACTION
e.g.   python3 benches/sqlite_blobs.py 65536 FULL 4   (256 blobs of 1 MiB, WAL mode)
"""
import os
import sqlite3
import sys
import tempfile
import time

page_size, sync, per_tx = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with tempfile.TemporaryDirectory() as d:
    c = sqlite3.connect(os.path.join(d, "blobs.db"), isolation_level=None)
    c.execute(f"PRAGMA page_size={page_size}")
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(f"PRAGMA synchronous={sync}")
    c.execute("CREATE TABLE s (k INTEGER PRIMARY KEY, d BLOB)")
    blob = os.urandom(1 << 20)
    n = 256
    start = time.time()
    for i in range(n):
        if i % per_tx == 0:
            c.execute("BEGIN")
        c.execute("INSERT INTO s (d) VALUES (?)", (blob,))
        if i % per_tx == per_tx - 1:
            c.execute("COMMIT")
    spent = time.time() - start
    c.close()
print(f"page={page_size} synchronous={sync} blobs/transaction={per_tx}: {n / spent:.0f} MiB/s")
