"""What the browser tests measure in a page (JavaScript for Playwright's ``evaluate``)."""

from __future__ import annotations

#: the contrast (WCAG) of an element's text with what shows behind it: translucent
#: backgrounds composited, up to the first opaque one (white when none is)
CONTRAST = """(el) => {
    const rgba = c => {
        const v = c.match(/[\\d.]+/g).map(Number);
        return v.length === 3 ? [...v, 1] : v;
    };
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
        const c = rgba(getComputedStyle(node).backgroundColor);
        if (c[3] > 0) layers.push(c);
        if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) {
        bg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
    }
    const channel = v => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g)
        + 0.0722 * channel(b);
    const [fg, back] = [lum(rgba(getComputedStyle(el).color)), lum(bg)];
    return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
}"""

#: once MathJax has typeset the page: its formulas, "true" for a display one
MATH = """() => MathJax.startup.promise.then(() => Array.from(
    document.querySelectorAll('mjx-container')).map(m => m.getAttribute('display') || 'inline'))"""
