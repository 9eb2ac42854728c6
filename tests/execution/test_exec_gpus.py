"""detect_gpus: CUDA_VISIBLE_DEVICES, nvidia-smi, and no GPU at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from exec_helpers import guarded

from sphinx_d2ltabs.execution import detect_gpus, gpus


def fake_smi(folder: Path, script: str) -> None:
    smi = folder / "nvidia-smi"
    smi.write_text("#!/bin/sh\n" + script)
    smi.chmod(0o755)


@pytest.mark.parametrize(("value", "expected"), [
    ("3,4", ["3", "4"]),
    (" 1 , 2 ", ["1", "2"]),
    ("GPU-5d0b1d1a,GPU-77aa", ["GPU-5d0b1d1a", "GPU-77aa"]),
    ("", []),
    ("-1", []),
    ("0,-1,1", ["0"]),
])
def test_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch, value: str,
                              expected: list[str]) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    monkeypatch.setenv("PATH", "/nonexistent")  # nvidia-smi is not even asked
    assert detect_gpus() == expected


def test_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_gpus() == []  # no nvidia-smi
    # printf: a shell builtin, PATH holds nothing else
    fake_smi(tmp_path, "printf '%s\\n' 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)' "
             "'  MIG 1g.5gb     Device  0: (UUID: MIG-bbbb)' "
             "'GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-cccc)'\n")
    assert detect_gpus() == ["0", "1"]
    fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed because it could not communicate'\n"
                       "exit 9\n")
    assert detect_gpus() == []


def test_nvidia_smi_that_hangs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}:/bin:/usr/bin")
    monkeypatch.setattr(gpus, "SMI_TIMEOUT", 0.5)
    # it sleeps far beyond the hang guard: only the timeout makes detect_gpus return
    fake_smi(tmp_path, "exec sleep 3600\n")
    assert guarded(detect_gpus) == []
