#!/usr/bin/env bash
# Install Debian's TeX for the PDF test (tests/test_pdf.py), when latexmk is missing:
# latexmk and xelatex (texlive-xetex) with what Sphinx's LaTeX needs (texlive-latex-extra,
# texlive-fonts-recommended, fonts-freefont-otf: xelatex's default fonts, xindy: its index),
# rsvg-convert (librsvg2-bin: SVG plots and figures to PDF) and poppler-utils (pdftotext,
# pdfinfo: the test reads the PDF). About 300 MB. Needs root or sudo and apt-get; does
# nothing when latexmk, xelatex, rsvg-convert and pdftotext are already there.
set -euo pipefail
PACKAGES="latexmk texlive-xetex texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf
xindy librsvg2-bin poppler-utils"
if command -v latexmk >/dev/null 2>&1 && command -v xelatex >/dev/null 2>&1 \
        && command -v rsvg-convert >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_tex.sh: no apt-get here; install $(echo $PACKAGES) (or your system's" \
         "TeX Live with latexmk, xelatex, xindy, rsvg-convert and poppler) to run the PDF test" >&2
    exit 0
fi
echo "install_tex.sh: apt-get install --no-install-recommends" $PACKAGES
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $PACKAGES >/dev/null
latexmk --version | head -n 2
xelatex --version | head -n 1
rsvg-convert --version
