"""Command line: ``python -m sphinx_d2ltabs COMMAND`` (also the ``sphinx-d2ltabs`` script).

``lib SRC``            write the ``#@save`` package of the book in SRC (no HTML build)
``status SRC``         print the translation status of a bilingual book
``migrate CONFIG_INI`` write a conf.py that builds a d2lbook book from its config.ini
``report OUTDIR``      print the execution report of the last build
``cache info|verify|prune PATH``  look after an execution cache
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .config import ConfigError, D2lConfig
from .confpy import load_conf


def cmd_lib(args: argparse.Namespace) -> int:
    from .library import LibraryConfig, generate_library

    cfg, ns = load_conf(args.src)
    lib = LibraryConfig(package=cfg.lib_package, directory=cfg.lib_dir,
                        modules=dict(cfg.lib_modules), headers=dict(cfg.lib_headers),
                        keep_headers=True,
                        aliases={fw: cfg.alias_set(fw).library_code() for fw in cfg.tab_names})
    result = generate_library(args.src, cfg.tab_names, lib, index=ns.get("root_doc", "index"))
    for issue in result.issues:
        loc = f"{os.path.join(args.src, issue.docpath)}:{issue.line}: " if issue.docpath else ""
        print(f"{loc}warning: {issue.message}", file=sys.stderr)
    for fw, path in sorted(result.files.items()):
        state = "written" if path in result.written else "unchanged"
        print(f"{fw}: {os.path.relpath(path)} ({state})")
    print(f"{len(result.files)} module(s) in {result.seconds:.2f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .bilingual import book_status, status_table, to_json

    placeholder = args.placeholder
    if placeholder is None:
        try:
            placeholder = load_conf(args.src)[0].translation_placeholder
        except (ConfigError, OSError):
            placeholder = D2lConfig().translation_placeholder
    pages = []
    for root, dirs, files in os.walk(args.src):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.endswith((".md", ".rst")):
                path = os.path.join(root, name)
                try:
                    with open(path, encoding="utf-8") as fh:
                        pages.append((os.path.relpath(path, args.src), fh.read()))
                except (OSError, UnicodeDecodeError) as err:
                    print(f"{path}: skipped: {err}", file=sys.stderr)
    statuses = book_status(pages, placeholder)
    if args.json:
        print(json.dumps(to_json(statuses), indent=1, ensure_ascii=False))
    else:
        print(status_table(statuses))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import ConfigIniError, conf_py, read_config_ini, report_lines

    try:
        mig = read_config_ini(args.config)
    except ConfigIniError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.output or os.path.join(os.path.dirname(os.path.abspath(args.config)), "conf.py")
    if os.path.exists(out) and not args.force:
        print(f"{out} exists; use --force to replace it", file=sys.stderr)
        return 1
    try:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(conf_py(os.path.basename(args.config)))
    except OSError as err:
        print(f"error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    for line in report_lines(mig, args.config):
        print(line, file=sys.stderr)
    values = mig.conf_values()
    print(f"wrote {out}: d2l_tabs = {values.get('d2l_tabs', ['python'])}")
    for name in ("extensions", "autodoc_mock_imports", "d2l_kernel_env", "d2l_colab",
                 "d2l_studiolab"):
        if values.get(name):
            print(f"  {name} = {values[name]!r}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .reporting import REPORT_FILE

    path = os.path.join(args.outdir, REPORT_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            report = json.load(fh)
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr)
        return 1
    for e in report["pages"]:
        cached = "cached" if e["cached"] else "ran"
        print(f"{e['status']:<12} {e['seconds']:8.2f} s  {cached:<6} {e['docname']} "
              f"[{e['framework']}] {e['error']}")
    print(f"{report['executed']} executed, {report['cached']} cached, {report['failed']} failed")
    return 1 if report["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sphinx_d2ltabs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lib", help="write the #@save package")
    p.add_argument("src", help="the book's source folder (with conf.py)")
    p.set_defaults(func=cmd_lib)
    p = sub.add_parser("status", help="translation status of a bilingual book")
    p.add_argument("src")
    p.add_argument("--json", action="store_true")
    p.add_argument("--placeholder", help="regex of an untranslated placeholder paragraph")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("migrate", help="write conf.py for a d2lbook config.ini")
    p.add_argument("config", help="path of config.ini")
    p.add_argument("-o", "--output")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("report", help="print the execution report of a build")
    p.add_argument("outdir", help="the HTML output folder")
    p.set_defaults(func=cmd_report)
    from .cache_cli import add_parser

    add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
