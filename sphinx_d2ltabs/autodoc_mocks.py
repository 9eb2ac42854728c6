"""autodoc's mocked modules as d2l's packages need them at import time (d2lbook's API page).

``migrate`` mocks the frameworks that are not installed (``autodoc_mock_imports``), so that
autodoc can import ``d2l/mxnet.py`` where MXNet is not installed. But d2l's modules call
their framework while they are imported: a default argument ``devices=d2l.try_all_gpus()``
runs ``range(npx.num_gpus())`` (d2l-zh's ``paddle.py``: ``paddle.device.cuda.device_count()``),
and Sphinx's mock object is no integer, so the whole module fails to import and the page
documents nothing. With this extension, a mocked object used as an integer is 0 (no GPU).

``config_from_ini`` adds it next to ``sphinx.ext.autodoc``; any conf.py can list it.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _zero(self: Any) -> int:
    return 0


def setup(app: Sphinx) -> dict[str, Any]:
    from . import __version__

    try:
        from sphinx.ext.autodoc.mock import _MockObject  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover (a Sphinx without it: nothing to change)
        pass
    else:
        if "__index__" not in vars(_MockObject):
            _MockObject.__index__ = _zero  # type: ignore[attr-defined]
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
