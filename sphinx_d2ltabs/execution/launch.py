"""Start a kernel that dies with the build (Linux): a parent-death signal, then ``exec``.

The build runs ``python -I -S launch.py <build pid> <kernel argv...>`` (this file by path:
it imports nothing but the standard library). It asks the kernel (Linux's
``PR_SET_PDEATHSIG``) to receive SIGKILL when the thread that started it ends, whichever
way: a build killed by SIGKILL takes its kernels along at once, even a kernel busy in C
code. The signal is kept across ``exec`` but not passed to the kernel's own children
(:mod:`.reaper` kills those). The launcher is the kernel process: same pid, session and
group, so nothing else changes.

Thread rule: the signal fires when the *thread* that forked the kernel ends. Kernels are
started and closed in the same thread (:func:`.kernel.run_job`; jupyter-client launches
in the calling thread, or in its own long-lived loop thread when a loop already runs),
so no kernel is killed early.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1


def wrap(argv: list[str]) -> list[str]:
    """``argv`` run through this launcher where it works (Linux, an executable that
    exists: else ``argv`` unchanged, which fails as before when it does not exist)."""
    if (not sys.platform.startswith("linux") or not argv or not sys.executable
            or shutil.which(argv[0]) is None):
        return argv
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), *argv]


IN_MEMORY_HISTORY = "--HistoryManager.hist_file=:memory:"
"""For IPython kernels, as nbclient passes them (MyST-NB, nbconvert and d2lbook run their
kernels through it): no history database in the user's profile, which kernels running at
once would otherwise share (SQLite errors), and no thread that writes it."""


IPYKERNEL_MODULES = ("ipykernel_launcher", "ipykernel")
"""The ``-m`` modules of an IPython kernel's command."""


def runs_ipykernel(argv: list[str]) -> bool:
    """Whether a kernel command is ``<python> -m ipykernel_launcher|ipykernel ...``."""
    return len(argv) >= 3 and argv[1] == "-m" and argv[2] in IPYKERNEL_MODULES


def extra_arguments(km: Any) -> list[str]:
    """The kernel's extra command-line arguments: :data:`IN_MEMORY_HISTORY` for an IPython
    kernel (nbclient's rule, ``km.ipykernel``, or a kernelspec that runs ipykernel)."""
    try:
        argv = list(km.kernel_spec.argv)
    except Exception:  # (no such kernelspec: the start reports it)
        return []
    return [IN_MEMORY_HISTORY] if km.ipykernel or runs_ipykernel(argv) else []


@functools.cache
def manager_class() -> type:
    """jupyter-client's KernelManager, forking kernels from the zygotes of its
    ``d2l_forks`` (a :class:`.forks.Forks`, set by :mod:`.session` from
    :func:`.forks.current` in the thread that starts the kernel) through
    :func:`provisioner_class`, else launching them through :func:`wrap`."""
    import uuid

    from jupyter_client.manager import KernelManager

    fork_provisioner = provisioner_class()

    class Manager(KernelManager):
        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            spec = self.kernel_spec
            if (self.provisioner is None and getattr(self, "d2l_forks", None) is not None
                    and spec is not None and not spec.metadata.get("kernel_provisioner")):
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = fork_provisioner(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
            return await super()._async_pre_start_kernel(**kw)

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            return cmd if isinstance(self.provisioner, fork_provisioner) else wrap(cmd)

    return Manager


@functools.cache
def provisioner_class() -> type:
    """jupyter-client's LocalProvisioner, forking the kernel from a zygote when it can
    (:func:`.forks.launch_kernel`), else launching it through :func:`wrap`."""
    from jupyter_client.provisioning import LocalProvisioner

    class ForkProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            from . import forks

            process = forks.launch_kernel(cmd, kwargs, getattr(self.parent, "d2l_forks", None),
                                           getattr(self.parent, "d2l_setup", ("", "")))
            if process is None:
                return await super().launch_kernel(wrap(cmd), **kwargs)
            self.process = process  # type: ignore[assignment]  # (Popen's methods)
            self.pid = self.pgid = process.pid
            self.cwd = kwargs.get("cwd") or os.getcwd()
            return self.connection_info

    return ForkProvisioner


def _set_pdeathsig() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the reaper alone will do
        pass


def main(args: list[str]) -> None:
    parent, argv = int(args[0]), args[1:]
    _set_pdeathsig()
    if os.getppid() != parent:  # the build died before the signal was set
        os._exit(1)
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"cannot run the kernel {argv[0]!r}: {err}", file=sys.stderr)
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
