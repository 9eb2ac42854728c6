"""Finding the GPUs of this machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess


def detect_gpus() -> list[str]:
    """GPU ids: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``, else none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [g.strip() for g in visible.split(",") if g.strip()]
        return [] if ids in ([], ["-1"]) else ids
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [m.group(1) for m in re.finditer(r"^GPU (\d+):", out, re.MULTILINE)]
