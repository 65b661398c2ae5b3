#!/usr/bin/env python3
"""Which B-trees the commits in a write-ahead log wrote: the pages of every commit, named by the table or index they
belong to.

    scripts/loadgen/walpages.py DB [--per N]

DB is a database whose -wal file is still there: a copy taken while the server ran, or the files of a server stopped
with SIGKILL (a clean stop checkpoints the log and removes it). Reads the WAL's frames (a 24-byte header each: page
number, and for a commit's last frame the database size), groups them into commits, and looks each page up in SQLite's
`dbstat` (on a copy of DB and its log, read-only). Prints the frames per commit and, per table or index (leaf and
interior pages apart), how many pages the commits wrote, counting a page once per commit, and per --per writes (the
number of clicks the run made, say). Python 3 standard library only; the sqlite3 module must have dbstat (Debian's
has).
"""

import argparse
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile


def commits_in(wal):
    """The page numbers of each commit in the log, in order: frames whose salts match the header's, up to the last
    commit frame."""
    if len(wal) < 32:
        return 0, []
    _magic, _version, page_size, _checkpoint, salt1, salt2, _c1, _c2 = struct.unpack(">8I", wal[:32])
    frame_size = page_size + 24
    commits, current = [], []
    for offset in range(32, len(wal) - frame_size + 1, frame_size):
        page, database_size, frame_salt1, frame_salt2 = struct.unpack(">4I", wal[offset : offset + 16])
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break  # frames of an earlier generation of the log, after a restart
        current.append(page)
        if database_size:
            commits.append(current)
            current = []
    return page_size, commits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("--per", type=float, default=0, help="also print pages per this many writes (clicks)")
    args = parser.parse_args()
    wal_path = args.db + "-wal"
    if not os.path.exists(wal_path):
        sys.exit(f"walpages: {wal_path} does not exist (a clean stop removes it: copy the files while the server runs)")
    with open(wal_path, "rb") as f:
        wal = f.read()
    page_size, commits = commits_in(wal)
    if not commits:
        sys.exit(f"walpages: {wal_path} holds no committed frames")
    with tempfile.TemporaryDirectory() as directory:
        copy = os.path.join(directory, "copy.db")
        shutil.copyfile(args.db, copy)
        shutil.copyfile(wal_path, copy + "-wal")
        db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            owner = {page: (name, kind) for name, page, kind in db.execute("SELECT name, pageno, pagetype FROM dbstat")}
        except sqlite3.OperationalError as error:
            sys.exit(f"walpages: this Python's SQLite has no dbstat ({error})")
        db.close()
    sizes = sorted(len(commit) for commit in commits)
    frames = sum(sizes)
    print(f"{len(commits)} commits, {frames} frames of {page_size} B ({frames * (page_size + 24) / 1e6:.1f} MB); "
          f"frames per commit: median {sizes[len(sizes) // 2]}, max {sizes[-1]}")
    written = collections.Counter()
    for commit in commits:
        for page in set(commit):
            written[owner.get(page, ("(free or new)", ""))] += 1
    total = sum(written.values())
    print(f"pages written, each counted once per commit: {total}" + (f" ({total / args.per:.1f} per write)" if args.per else ""))
    for (name, kind), count in written.most_common():
        per = f"  {count / args.per:5.2f}" if args.per else ""
        print(f"{count:8d}{per}  {name} {kind}")


if __name__ == "__main__":
    main()
