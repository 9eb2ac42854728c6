"""LaTeX (and other non-HTML) output: one framework per book, SVG images as PDF.

* :class:`OneFramework` – with ``d2l_nonhtml_tabs`` naming a framework (or ``default``),
  every non-HTML builder keeps only that framework: its tab of each tab set, its cells
  outside tab sets, ``#@tab all`` cells; tab sets without it and the other frameworks'
  cells are left out (d2lbook's ``build pdf``, one framework per PDF). Runs before
  :class:`.tabs.NonHtmlTabs` (which then finds no tab set to handle). In LaTeX, a cell's
  anchors become targets (:class:`CellTargets`), so the API page's links resolve.
* :class:`SvgToPdf` – Sphinx's :class:`~sphinx.transforms.post_transforms.images.
  ImageConverter` for SVG → PDF with ``rsvg-convert`` (Debian's ``librsvg2-bin``, what
  d2lbook's ``build pdf`` uses through ``sphinxcontrib-svg2pdfconverter``): plot outputs
  (``d2l.use_svg_display()``) and SVG figures of the pages become vector PDF images.
  A conversion is kept between builds (its file is newer than the SVG).
* :class:`SvgWithoutConverter` – where the builder can't show SVG and no converter is
  there: one ``d2l.image`` warning per build that says what to install; plots fall back
  to their text (``<Figure size ...>``), SVG figures keep their caption.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.transforms.post_transforms.images import ImageConverter
from sphinx.util import logging
from sphinx_design.shared import is_component

from .builder import connect_record_builder
from .state import get_state
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx

    from .config import D2lConfig

logger = logging.getLogger(__name__)

SVG = "image/svg+xml"
RSVG = "rsvg-convert"
#: seconds one conversion may take (a huge or hostile SVG must not hang the build)
CONVERT_TIMEOUT = 120
#: the subtype of this module's warnings (an SVG image this builder can't show)
WARNING = D2lWarning.IMAGE
#: what to install, in the warning
INSTALL_HINT = ("install rsvg-convert (Debian/Ubuntu: apt-get install librsvg2-bin; "
                "Fedora: dnf install librsvg2-tools; macOS: brew install librsvg; conda: "
                "conda install -c conda-forge librsvg) and build again")
#: ``builder-inited`` priority: after :func:`.builder.record_builder` (600)
PRIORITY = 650


def chosen_framework(cfg: D2lConfig) -> str | None:
    """The one framework non-HTML builders show; None: every framework (``all``)."""
    choice = cfg.nonhtml_tabs.strip().lower()
    if choice == "all":
        return None
    return cfg.default_tab if choice == "default" else choice


# ------------------------------------------------------------------ one framework


class OneFramework(SphinxPostTransform):
    """Non-HTML output of one framework (``d2l_nonhtml_tabs = "<framework>"``)."""

    default_priority = 189  # before tabs.NonHtmlTabs (190) and sphinx-design's (200)

    def run(self, **kwargs: Any) -> None:
        state = get_state(self.env)
        if state.builder_format == "html" or state.config is None:
            return
        name = chosen_framework(state.cfg)
        if name is None:
            return
        for tabset in list(self.document.findall(_is_tab_set)):
            keep = next((item for item in tabset.children
                         if is_component(item, "tab-item")
                         and item.get("d2l_framework") == name), None)
            content = [] if keep is None else [
                child for child in keep.children if is_component(child, "tab-content")]
            # (not replace_self: it gives the tab set's classes to the first node kept)
            tabset.parent.replace(tabset, list(content[0].children) if content else [])
        # cells outside tab sets: a page of one other framework, tab sets not shown
        for node in list(self.document.findall(_other_framework(name))):
            if node.parent is not None:
                node.parent.remove(node)


def _is_tab_set(node: nodes.Node) -> bool:
    return (isinstance(node, nodes.container) and is_component(node, "tab-set")
            and "d2l-tabs" in node["classes"])


def _other_framework(name: str) -> Any:
    def condition(node: nodes.Node) -> bool:
        return isinstance(node, nodes.Element) and node.get("d2l_framework") not in (
            None, "all", name)

    return condition


class CellTargets(SphinxPostTransform):
    """LaTeX: the anchors of a cell (the API page links to them) as targets.

    Sphinx's LaTeX writer writes no label for the ids of a container, so the links of
    the API page (:mod:`.directives`) would be undefined references in the PDF.
    """

    default_priority = 190
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        for cell in list(self.document.findall(_anchored_cell)):
            ids, cell["ids"] = cell["ids"], []
            cell.insert(0, nodes.target("", "", ids=ids))


def _anchored_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and "d2l_framework" in node \
        and bool(node["ids"])


# ------------------------------------------------------------------ SVG images


class SvgToPdf(ImageConverter):
    """SVG → PDF (LaTeX), or PNG for builders without PDF images, with ``rsvg-convert``
    (found on ``PATH`` at ``builder-inited``)."""

    conversion_rules = [(SVG, "application/pdf"), (SVG, "image/png")]
    #: the program's path, set at ``builder-inited`` (None: not found)
    program: str | None = None
    #: why the last conversion failed (None: it worked)
    problem: str | None = None

    def is_available(self) -> bool:
        return self.program is not None

    def handle(self, node: nodes.image) -> None:
        self.problem = None
        super().handle(node)
        if self.problem is not None:
            warn(logger, f"cannot convert {node.get('uri')}: {self.problem}; the image is "
                 "left out", WARNING, location=node)
            _leave_out(node)

    def convert(self, _from: str | os.PathLike[str], _to: str | os.PathLike[str]) -> bool:
        source, target = Path(_from), Path(_to)
        try:
            if target.stat().st_mtime >= source.stat().st_mtime:
                return True  # converted by an earlier build
        except OSError:
            pass
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fmt = "png" if target.suffix.lower() == ".png" else "pdf"
        self.problem = _run_rsvg(str(self.program), source, partial, fmt)
        if self.problem is None:
            os.replace(partial, target)
            return True
        partial.unlink(missing_ok=True)
        return False


def _run_rsvg(program: str, source: Path, target: Path, fmt: str) -> str | None:
    """Convert one SVG to ``fmt``; a description of the failure, None when it worked."""
    try:
        done = subprocess.run([program, f"--format={fmt}", f"--output={target}", str(source)],
                              capture_output=True, timeout=CONVERT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"{RSVG} took more than {CONVERT_TIMEOUT} s"
    except OSError as err:
        return f"{RSVG} cannot be run: {err.strerror or err}"
    if done.returncode != 0 or not target.is_file():
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"{RSVG} failed ({message[-1] if message else f'exit {done.returncode}'})"
    return None


def _mimetype(uri: str) -> str | None:
    return SVG if uri.lower().endswith((".svg", ".svgz")) else None


def _leave_out(image: nodes.image) -> None:
    """Remove an image the builder can't show (a figure keeps its caption)."""
    if image.parent is not None:
        image.parent.remove(image)


class SvgWithoutConverter(SphinxPostTransform):
    """No way to show SVG in this builder: one warning, SVG plots as text, no SVG figures.

    Runs before :class:`.outputs.SelectMimeType` (4), which then picks a plot's text.
    """

    default_priority = 3

    def run(self, **kwargs: Any) -> None:
        state = get_state(self.env)
        if state.image_types is None or SVG in state.image_types:
            return
        first = next(iter(self.document.findall(_svg_only_bundle(state.image_types))), None)
        for image in list(self.document.findall(_svg_only_image(state.image_types))):
            first = first or image.parent
            _leave_out(image)
        if first is not None and "svg-converter" not in state.warned:
            state.warned.add("svg-converter")
            warn(logger, f"SVG images (plot outputs, figures) cannot be shown in the "
                 f"{state.builder_name} output: no SVG converter found; {INSTALL_HINT}. "
                 "Until then plots are shown as their text and SVG figures by their "
                 "caption only (this warning is given once)", WARNING, location=first)


def _svg_only_bundle(usable: frozenset[str]) -> Any:
    """A cell output's bundle whose only image is an SVG."""

    def condition(node: nodes.Node) -> bool:
        if not (isinstance(node, nodes.container) and "mime_bundle" in node["classes"]):
            return False
        mimes = {child.get("mime_type") for child in node.children
                 if isinstance(child, nodes.Element)}
        return SVG in mimes and not any(
            m in usable for m in mimes if m and (m.startswith("image/")
                                                 or m == "application/pdf"))

    return condition


def _svg_only_image(usable: frozenset[str]) -> Any:
    """An image (a figure of the page) available as SVG only."""

    def condition(node: nodes.Node) -> bool:
        if not isinstance(node, nodes.image):
            return False
        candidates = node.get("candidates") or {}
        if "?" in candidates:  # a remote image: the builder's business
            return False
        if "*" in candidates or not candidates:
            return _mimetype(str(node.get("uri", ""))) == SVG
        return SVG in candidates and not any(m in usable for m in candidates)

    return condition


# ------------------------------------------------------------------ set-up


def _other_svg_converter(app: Sphinx) -> bool:
    """Is another image converter for SVG registered (``sphinx.ext.imgconverter``,
    ``sphinxcontrib.rsvgconverter``...)? Its availability is its own business."""
    supported = set(getattr(app.builder, "supported_image_types", None) or [])
    return any(
        isinstance(t, type) and issubclass(t, ImageConverter) and t is not SvgToPdf
        and any(src == SVG and dst in supported for src, dst in t.conversion_rules)
        for t in app.registry.get_post_transforms())


def on_builder_inited(app: Sphinx) -> None:
    """Find ``rsvg-convert``; without any SVG converter, SVG is no usable image type."""
    program = shutil.which(RSVG)
    SvgToPdf.program = program
    SvgToPdf.available = program is not None  # (Sphinx caches it per process)
    state = get_state(app.env)
    if (program is None and state.image_types is not None
            and SVG not in (getattr(app.builder, "supported_image_types", None) or [])
            and not _other_svg_converter(app)):
        state.image_types = state.image_types - {SVG}


def setup_latex(app: Sphinx) -> None:
    """Register the transforms, the converter and the ``builder-inited`` check."""
    app.add_post_transform(OneFramework)
    app.add_post_transform(CellTargets)
    app.add_post_transform(SvgToPdf)
    app.add_post_transform(SvgWithoutConverter)
    connect_record_builder(app)
    app.connect("builder-inited", on_builder_inited, priority=PRIORITY)
