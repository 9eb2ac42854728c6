"""Finding the GPUs of this machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

SMI_TIMEOUT = 10.0


def detect_gpus() -> list[str]:
    """GPU ids: ``CUDA_VISIBLE_DEVICES`` if set (``""`` or ``-1``: none), else the GPUs
    ``nvidia-smi -L`` lists, else none. Never raises; waits at most 10 s."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids: list[str] = []
        for part in visible.split(","):
            part = part.strip()
            if not part or part.startswith("-"):
                break  # CUDA ignores the ids after an invalid one
            ids.append(part)
        return ids
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True,
                             timeout=SMI_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    if out.returncode != 0:
        return []
    return [m.group(1) for m in re.finditer(r"^GPU (\d+):", out.stdout, re.MULTILINE)]
