"""The ``#@save`` library: saved blocks → one module per framework (Sphinx-free).

As d2lbook's ``d2lbook build lib``, fixing its known bugs (see :mod:`.blocks` for the save
rules): ``@d2l.add_to_class(C)`` methods are folded into the most recent saved ``class C``
(:mod:`.classes`), and one that no saved ``C`` precedes is reported; a name saved twice is
reported with both places. Modules are assembled in table-of-contents order
(:func:`~.package.assemble_module`, one framework), written only when their content changes
(atomically), and are byte-identical for the same sources (:mod:`.package`). A file of the
package that the extension did not write is never overwritten nor removed, and a folder that
cannot be written is reported, not raised (:mod:`.files`). :mod:`.api` lists the saved names
for the API page.
"""

from .api import ApiEntry, api_anchor, api_entries
from .blocks import (
    LONE_SAVE,
    NOT_A_STATEMENT,
    SAVE,
    LibraryIssue,
    SavedBlock,
    extract_saved_blocks,
)
from .classes import UnplacedMethod, fold_add_to_class, unplaced_methods
from .files import BANNER, BANNER_FIRST, D2LBOOK_BANNER, write_if_changed
from .package import (
    ALIAS_TITLE,
    FrameworkModule,
    LibraryConfig,
    LibraryResult,
    assemble_module,
    generate_library,
    library_hash,
    module_path,
    toc_order,
)

__all__ = [
    "ALIAS_TITLE",
    "BANNER",
    "BANNER_FIRST",
    "D2LBOOK_BANNER",
    "LONE_SAVE",
    "NOT_A_STATEMENT",
    "SAVE",
    "ApiEntry",
    "FrameworkModule",
    "LibraryConfig",
    "LibraryIssue",
    "LibraryResult",
    "SavedBlock",
    "UnplacedMethod",
    "api_anchor",
    "api_entries",
    "assemble_module",
    "extract_saved_blocks",
    "fold_add_to_class",
    "generate_library",
    "library_hash",
    "module_path",
    "toc_order",
    "unplaced_methods",
    "write_if_changed",
]
