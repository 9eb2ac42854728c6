"""cache ACTION PATH: look after an execution cache.

PATH is a cache folder, or a book's source folder (the one with conf.py): then the
book's d2l_cache_dir, else SRC/_build/.d2l_cache (the default of sphinx-build SRC
SRC/_build/html). The fallback folder that a read-only cache writes to is included.
push uploads the valid entries to a remote cache (--to URL, else the book's
d2l_cache_remote); an entry already there is kept (first writer wins).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .config import D2lConfig
from .confpy import load_conf
from .execution.cache import FileCache, fallback_dir, read_usage

DAY = 86400.0


def book_config(path: str) -> D2lConfig | None:
    """The configuration of the book at PATH, if PATH is a book's source folder."""
    return load_conf(path)[0] if os.path.isfile(os.path.join(path, "conf.py")) else None


def cache_folders(path: str) -> list[str]:
    """The cache folder(s) PATH names: the folder, then its fallback folder if any."""
    folder = path
    cfg = book_config(path)
    if cfg is not None:
        configured = cfg.cache_dir
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


def cmd_push(folder: str, url: str, cfg: D2lConfig) -> int:
    """Upload every valid entry of ``folder`` to the remote cache ``url``."""
    from .execution.remote import RemoteConfigError, RemoteTier, shown_url

    try:
        remote = RemoteTier(url, timeout=cfg.cache_remote_timeout, push=True,
                            options=dict(cfg.cache_remote_options),
                            on_problem=lambda message: print(message, file=sys.stderr))
    except RemoteConfigError as err:
        print(f"cache push: {err}", file=sys.stderr)
        return 2
    cache = FileCache(folder)
    counts = {"pushed": 0, "exists": 0, "failed": 0, "invalid": 0}
    for key, _ in list(cache.entries()):
        lookup = cache.load(key, remove_corrupt=False)
        try:
            with open(lookup.path, encoding="utf-8") as fh:
                text = fh.read() if lookup.result is not None else ""
        except (OSError, ValueError):
            text = ""
        if not text:
            counts["invalid"] += 1  # (``cache verify`` names them)
            continue
        counts[remote.push(key, text)] += 1
        if remote.down or counts["failed"]:
            break
    print(f"{folder} -> {shown_url(url)}: {counts['pushed']} pushed, {counts['exists']} "
          f"already there, {counts['invalid']} invalid (not pushed)"
          + (", stopped after a failure" if counts["failed"] else ""))
    return 1 if counts["failed"] else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cache", help="look after an execution cache (info, verify, prune, "
                       "push)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("info", "verify", "prune", "push"),
                   help="info: entries, size, what the last build used; verify: load every "
                   "entry; prune: remove entries (see --unused, --older-than) and leftover "
                   "temporary files; push: upload the entries to a remote cache (--to)")
    p.add_argument("path", help="a cache folder, or a book's source folder (with conf.py)")
    p.add_argument("--unused", action="store_true",
                   help="prune: the entries the last build did not use")
    p.add_argument("--older-than", type=float, metavar="DAYS",
                   help="prune: the entries no build used for DAYS days")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would go")
    p.add_argument("--delete", action="store_true",
                   help="verify: remove the corrupt entries (never the unreadable ones)")
    p.add_argument("--to", metavar="URL",
                   help="push: the remote cache (default: the book's d2l_cache_remote), "
                   "e.g. file:///srv/d2l-cache or s3://bucket/d2l-cache")
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
    if args.action == "push":
        return _push(args, folders)
    status = 0
    for folder in folders:
        if args.action == "info":
            status |= cmd_info(folder)
        elif args.action == "verify":
            status |= cmd_verify(folder, args.delete)
        else:
            status |= cmd_prune(folder, args.unused, args.older_than, args.dry_run)
    return status


def _push(args: argparse.Namespace, folders: list[str]) -> int:
    cfg = book_config(args.path) or D2lConfig()
    url = args.to or cfg.cache_remote
    if not url:
        print("cache push: say where to: --to URL (or set d2l_cache_remote in conf.py)",
              file=sys.stderr)
        return 2
    status = 0
    for folder in folders:
        status = max(status, cmd_push(folder, url, cfg))
    return status
