"""The command line of sphinx_d2ltabs: python -m sphinx_d2ltabs COMMAND, or the
sphinx-d2ltabs script. Paths may be relative to the current folder.

  lib SRC              write the #@save package of the book in SRC (no build)
  status SRC           print the translation status of a bilingual book
  po SRC OUT           write a bilingual book as English pages + gettext .po catalogs
  migrate CONFIG_INI   write a conf.py that builds a d2lbook book from its config.ini
  report OUTDIR        print the execution report of the last build
  cache ACTION PATH    look after an execution cache (info, verify, prune, push)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .config import ConfigError
from .confpy import load_conf


def book_folder(src: str) -> str | None:
    """SRC as an absolute path when it is a book's source folder (with conf.py); else
    None, after a message."""
    if not os.path.isdir(src):
        print(f"error: {src}: no such folder", file=sys.stderr)
        return None
    if not os.path.isfile(os.path.join(src, "conf.py")):
        print(f"error: {src}: no conf.py in this folder (give the book's source folder, "
              "the one with conf.py)", file=sys.stderr)
        return None
    return os.path.abspath(src)


def cmd_lib(args: argparse.Namespace) -> int:
    from .library import LibraryConfig, generate_library

    src = book_folder(args.src)
    if src is None:
        return 2
    cfg, ns = load_conf(src)
    lib = LibraryConfig(package=cfg.lib_package, directory=cfg.lib_dir,
                        modules=dict(cfg.lib_modules), headers=dict(cfg.lib_headers),
                        keep_headers=True,
                        aliases={fw: cfg.alias_set(fw).library_code() for fw in cfg.tab_names})
    result = generate_library(src, cfg.tab_names, lib, index=ns.get("root_doc", "index"))
    for issue in result.issues:
        where = os.path.relpath(os.path.join(src, issue.docpath))
        loc = f"{where}:{issue.line}: " if issue.docpath else ""
        print(f"{loc}warning: {issue.message}", file=sys.stderr)
    for fw, path in sorted(result.files.items()):
        state = "written" if path in result.written else "unchanged"
        print(f"{fw}: {os.path.relpath(path)} ({state})")
    print(f"{len(result.files)} module(s) in {result.seconds:.2f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from .bilingual_report import read_book, report_table, source_url_template

    if not os.path.isdir(args.src):
        print(f"error: {args.src}: no such folder", file=sys.stderr)
        return 2
    start = time.perf_counter()
    cfg, ns = load_conf(args.src)
    report, skipped = read_book(args.src, ns, args.placeholder or cfg.translation_placeholder)
    for line in skipped:
        print(line, file=sys.stderr)
    if not report.pages:
        print(f"error: {args.src}: no pages (.md or .rst) in this book "
              "(conf.py's exclude_patterns and include_patterns apply)", file=sys.stderr)
        return 1
    if not report.bilingual:  # not "missing original" for every paragraph of the book
        print(f"{args.src}: no translations: no page keeps the original of a paragraph in "
              "an HTML comment before its translation (docs/bilingual.md)", file=sys.stderr)
        if args.json:
            print("[]")
        return 0
    if args.json:
        url = source_url_template(ns.get("html_context") or {},
                                  ns.get("html_theme_options") or {})
        print(json.dumps(report.to_json(url), indent=1, ensure_ascii=False))
    else:
        print(report_table(report))
    print(f"{len(report.pages)} pages in {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


def cmd_po(args: argparse.Namespace) -> int:
    from .po_build import PoError, export_po

    try:
        result = export_po(args.src, args.out, args.language)
    except PoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for rel in result.kept:
        print(f"{rel}: reStructuredText, kept as it is (its originals stay in comments)",
              file=sys.stderr)
    print(f"{result.pages} pages made English in {args.out}; {len(result.catalogs)} "
          f"catalogs: of the originals' messages {result.translated} translated, "
          f"{result.fuzzy} fuzzy, {result.untranslated} untranslated; {result.other} "
          "messages of no original")
    print(f"build the translation: sphinx-build -D language={args.language or '<language>'} "
          f"{args.out} {os.path.join(args.out, '_build', 'html')}")
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


def report_candidates(path: str) -> list[str]:
    """Where the report of the build of PATH may be: PATH an output folder (its
    doctree folder ``.doctrees``; ``../doctrees`` with ``sphinx-build -M``; the published
    copy), a doctree folder, or a book's source folder (``_build/...``)."""
    from .reporting import REPORT_FILE

    folders = [os.path.join(path, ".doctrees"), os.path.join(path, os.pardir, "doctrees"),
               path, os.path.join(path, "_build", "doctrees"),
               os.path.join(path, "_build", "html", ".doctrees")]
    return [os.path.normpath(os.path.join(f, REPORT_FILE)) for f in folders]


def cmd_report(args: argparse.Namespace) -> int:
    from .reporting import read_report

    for path in report_candidates(args.outdir):
        report = read_report(path) if os.path.isfile(path) else None
        if report is not None:
            break
    else:
        print(f"error: {args.outdir}: no execution report here (a build writes it to its "
              "doctree folder: OUTDIR/.doctrees/, or _build/doctrees/ with sphinx-build -M)",
              file=sys.stderr)
        return 2
    try:
        for e in report["pages"]:
            cached = "cached" if e["cached"] else "ran"
            print(f"{e['status']:<12} {e['seconds']:8.2f} s  {cached:<6} {e['docname']} "
                  f"[{e['framework']}] {e['error']}")
        print(f"{report['executed']} executed, {report['cached']} cached, "
              f"{report['failed']} failed")
    except (KeyError, TypeError, ValueError):
        print(f"error: {os.path.relpath(path)}: not an execution report", file=sys.stderr)
        return 2
    return 1 if report["failed"] else 0


def prog_name() -> str:
    """The command as the user typed it: ``python -m sphinx_d2ltabs`` (with the name of
    the Python that runs it) or the ``sphinx-d2ltabs`` script."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name in ("__main__.py", "-c"):
        python = os.path.basename(sys.executable) or "python"
        return f"{python} -m sphinx_d2ltabs"
    return name


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command (help in plain text, every argument described)."""
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(), description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run '%(prog)s COMMAND --help' for the arguments of a command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands")
    p = sub.add_parser("lib", help="write the #@save package of a book",
                       description="Write the #@save package of the book in SRC (d2l/ "
                       "in the source folder by default: d2l_lib_dir, d2l_lib_package), "
                       "as a build does, without building.")
    p.add_argument("src", help="the book's source folder (the one with conf.py)")
    p.set_defaults(func=cmd_lib)
    p = sub.add_parser("status", help="translation status of a bilingual book",
                       description="Print how much of a bilingual book (originals kept in "
                       "HTML comments) is translated: the book, its chapters, its pages.")
    p.add_argument("src", help="the book's source folder (the one with conf.py)")
    p.add_argument("--json", action="store_true", help="one JSON object per page instead")
    p.add_argument("--placeholder", metavar="REGEX",
                   help="regex of an untranslated placeholder paragraph (default: the "
                   "book's d2l_translation_placeholder)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("po", help="a bilingual book as English pages + gettext catalogs",
                       description="Write into OUT the bilingual book in SRC as English "
                       "pages (each original in place of its translation) and Sphinx .po "
                       "catalogs (each translation as msgstr); then 'sphinx-build -D "
                       "language=LANG OUT OUT/_build/html' builds the translation.")
    p.add_argument("src", help="the bilingual book (originals in HTML comments)")
    p.add_argument("out", help="a new folder: the English book and its .po catalogs")
    p.add_argument("--language", help="the translation's language (default: conf.py's)")
    p.set_defaults(func=cmd_po)
    p = sub.add_parser("migrate", help="write conf.py for a d2lbook config.ini",
                       description="Write a conf.py that builds a d2lbook book (its "
                       "config.ini) with sphinx_d2ltabs.")
    p.add_argument("config", help="the book's config.ini")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="where to write conf.py (default: beside config.ini)")
    p.add_argument("--force", action="store_true", help="replace an existing conf.py")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("report", help="print the execution report of a build",
                       description="Print the execution report of the last build: every "
                       "(page, framework) job, how it ended and how long it took. Exit "
                       "status 1 when a job failed.")
    p.add_argument("outdir", help="the build's output folder (e.g. _build/html), its "
                   "doctree folder, or the book's source folder")
    p.set_defaults(func=cmd_report)
    from .cache_cli import add_parser

    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    from sphinx.errors import ConfigError as SphinxConfigError

    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, SphinxConfigError) as err:  # a d2l_* value; conf.py itself
        print(f"error: {err}", file=sys.stderr)
        return 2
