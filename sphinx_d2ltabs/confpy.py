"""Reading a book's ``conf.py`` outside a build (the command line), as Sphinx does."""

from __future__ import annotations

import os
from typing import Any

from .config import D2lConfig, from_mapping


def load_conf(srcdir: str) -> tuple[D2lConfig, dict[str, Any]]:
    """Evaluate SRC/conf.py with Sphinx's own reader (``tags`` works, the folder is the
    current one while it runs) and validate its ``d2l_*`` values. Returns the config and
    the names conf.py defined; a book without conf.py gets the defaults."""
    from sphinx.config import Config
    from sphinx.util.tags import Tags

    if not os.path.isfile(os.path.join(srcdir, "conf.py")):
        return from_mapping({}), {}
    config = Config.read(os.path.abspath(srcdir), overrides={}, tags=Tags())
    namespace: dict[str, Any] = dict(config._raw_config)
    values = {k[4:]: v for k, v in namespace.items() if k.startswith("d2l_")}
    return from_mapping(values), namespace
