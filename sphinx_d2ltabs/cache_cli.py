"""``python -m sphinx_d2ltabs cache info|verify|prune PATH``: look after an execution cache.

PATH is a cache folder, or a book's source folder (the one with ``conf.py``): then its
``d2l_cache_dir``, else ``SRC/_build/.d2l_cache`` (the default of ``sphinx-build SRC
SRC/_build/html``). The fallback folder that a read-only cache writes to is included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .confpy import load_conf
from .execution.cache import FileCache, fallback_dir, read_usage

DAY = 86400.0


def cache_folders(path: str) -> list[str]:
    """The cache folder(s) PATH names: the folder, then its fallback folder if any."""
    folder = path
    if os.path.isfile(os.path.join(path, "conf.py")):
        configured = load_conf(path)[0].cache_dir
        folder = os.path.join(path, configured) if configured else os.path.join(
            path, "_build", ".d2l_cache")
    folder = os.path.normpath(folder)
    fallback = fallback_dir(folder)
    return [folder] + ([fallback] if os.path.isdir(fallback) else [])


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cmd_info(folder: str) -> int:
    cache = FileCache(folder)
    entries = list(cache.entries())
    usage = read_usage(folder)
    used = set(usage.get("keys") or []) if isinstance(usage.get("keys"), list) else set()
    keys = {k for k, _ in entries}
    print(f"{folder}")
    print(f"  entries: {len(entries)}, {_size(sum(st.st_size for _, st in entries))}")
    if entries:
        now = time.time()
        ages = [(now - st.st_mtime) / DAY for _, st in entries]
        print(f"  last used: {min(ages):.1f} to {max(ages):.1f} days ago")
    when = usage.get("time")
    if isinstance(when, (int, float)):
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
        print(f"  last build: {stamp} ({usage.get('book', '?')}): used {len(used)} entries, "
              f"{len(used - keys)} of them missing now")
        print(f"  entries the last build did not use: {len(keys - used)}")
    else:
        print("  last build: unknown (no usage record)")
    print(f"  temporary files: {len(cache.temporaries())}")
    return 0


def cmd_verify(folder: str, delete: bool) -> int:
    cache = FileCache(folder)
    bad = 0
    total = 0
    for key, _ in list(cache.entries()):
        total += 1
        lookup = cache.load(key, remove_corrupt=delete)
        if lookup.result is None and lookup.problem:
            bad += 1
            removed = delete and lookup.corrupt
            print(f"{lookup.path}: {lookup.problem}" + (" (removed)" if removed else ""))
    print(f"{folder}: {total} entries, {total - bad} load, {bad} bad")
    return 1 if bad else 0


def cmd_prune(folder: str, unused: bool, older_than: float | None, dry_run: bool) -> int:
    cache = FileCache(folder)
    keep: set[str] | None = None
    if unused:
        usage = read_usage(folder)
        if not isinstance(usage.get("keys"), list):
            print(f"{folder}: no usage record of a last build: --unused removes nothing",
                  file=sys.stderr)
            return 1
        keep = {str(k) for k in usage["keys"]}
    seconds = None if older_than is None else older_than * DAY
    if dry_run:
        limit = None if seconds is None else time.time() - seconds
        doomed = [k for k, st in cache.entries() if (keep is None or k not in keep)
                  and (limit is None or st.st_mtime < limit)]
        print(f"{folder}: would remove {len(doomed)} entries and "
              f"{len(cache.temporaries())} temporary file(s) (those over an hour old)")
        return 0
    removed = cache.prune(keep, seconds)
    print(f"{folder}: removed {removed} entries; {len(list(cache.entries()))} left")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="look after an execution cache (info, verify, prune)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("info", "verify", "prune"),
                   help="info: entries, size, what the last build used; verify: load every "
                   "entry; prune: remove entries (see --unused, --older-than) and leftover "
                   "temporary files")
    p.add_argument("path", help="a cache folder, or a book's source folder (with conf.py)")
    p.add_argument("--unused", action="store_true",
                   help="prune: the entries the last build did not use")
    p.add_argument("--older-than", type=float, metavar="DAYS",
                   help="prune: the entries no build used for DAYS days")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would go")
    p.add_argument("--delete", action="store_true",
                   help="verify: remove the corrupt entries (never the unreadable ones)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folders = cache_folders(args.path)
    if not os.path.isdir(folders[0]):
        print(f"{folders[0]}: no such cache folder", file=sys.stderr)
        return 1
    if args.action == "prune" and not (args.unused or args.older_than is not None):
        print("cache prune: say what to remove: --unused and/or --older-than DAYS",
              file=sys.stderr)
        return 2
    status = 0
    for folder in folders:
        if args.action == "info":
            status |= cmd_info(folder)
        elif args.action == "verify":
            status |= cmd_verify(folder, args.delete)
        else:
            status |= cmd_prune(folder, args.unused, args.older_than, args.dry_run)
    return status
