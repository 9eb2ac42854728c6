"""The extension's user-visible strings, in the book's ``language`` (Sphinx's locale machinery).

Strings are marked with :data:`_` (``sphinx.locale.get_translation``) and looked up in the
``sphinx_d2ltabs`` message catalog, registered with ``app.add_message_catalog`` at set-up
(:func:`setup_i18n`). The catalogs live in ``locale/<language>/LC_MESSAGES/``: the
``.po`` files are the source, the compiled ``.mo`` files are committed next to them (as
Sphinx and sphinx-book-theme do), so a fresh clone and an installed package both work
without a build step. After changing a marked string or a ``.po`` file::

    python -m sphinx_d2ltabs.i18n          # template from the sources, .po updated, .mo compiled

(``tests/test_originals.py`` fails when the committed files do not match the sources.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.locale import get_translation

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog
    from sphinx.application import Sphinx

CATALOG = "sphinx_d2ltabs"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"

_: Callable[[str], str] = get_translation(CATALOG)


def N_(message: str) -> str:  # (gettext's name for "mark, translate later")
    """Mark a string for the catalog without translating it now."""
    return message


#: The column headings of the translation status report (``d2l-translation-status``),
#: translated in the catalogs: show them as ``_(heading)``.
STATUS_HEADINGS = (N_("chapter"), N_("pages"), N_("page"), N_("translated"),
                   N_("untranslated"), N_("original missing"), N_("done"),
                   N_("untranslated lines"))


def original_label(configured: str) -> str:
    """The label of an original: ``d2l_original_label``, else "Original" translated."""
    return configured or _("Original")


def untranslated_note() -> str:
    """The note above an original shown in place of its missing translation."""
    return _("Not translated yet: the original text is shown.")


def setup_i18n(app: Sphinx) -> None:
    app.add_message_catalog(CATALOG, str(LOCALE_DIR))


# --------------------------------------------------------------------------- maintenance


def extract() -> Catalog:
    """The template: every string of the package marked with ``_`` or ``N_``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    from . import __version__

    template = Catalog(project=CATALOG, version=__version__, charset="utf-8",
                       copyright_holder="The sphinx_d2ltabs developers")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(PACKAGE_DIR), method_map=[("**.py", "python")],
            keywords={"_": None, "N_": None}):
        template.add(message, None, [(f"sphinx_d2ltabs/{filename}", lineno)],
                     auto_comments=comments, context=context)
    return template


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{CATALOG}.po"))


def read_catalog(path: Path) -> Catalog:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    with open(path, "rb") as fh:
        return read_mo(fh) if path.suffix == ".mo" else read_po(fh)


def update(paths: Sequence[Path] | None = None) -> list[Path]:
    """Write the template, merge it into every ``.po`` and compile each; the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import write_po

    template = extract()
    written = [LOCALE_DIR / f"{CATALOG}.pot"]
    if written[0].exists():  # the same messages: the same date (no churn in the files)
        previous = read_catalog(written[0])
        if {m.id for m in previous if m.id} == {m.id for m in template if m.id}:
            template.creation_date = previous.creation_date
    with open(written[0], "wb") as fh:
        write_po(fh, template, omit_header=False, width=100, sort_output=True,
                 include_lineno=False)
    for po in paths if paths is not None else po_files():
        catalog = read_catalog(po)
        catalog.update(template, no_fuzzy_matching=True)
        with open(po, "wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True, include_lineno=False,
                     ignore_obsolete=True)
        with open(po.with_suffix(".mo"), "wb") as fh:
            write_mo(fh, catalog)
        written += [po, po.with_suffix(".mo")]
    return written


if __name__ == "__main__":
    for path in update():
        sys.stdout.write(f"{os.path.relpath(path)}\n")
