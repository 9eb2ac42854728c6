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

PR_SET_PDEATHSIG = 1


def wrap(argv: list[str]) -> list[str]:
    """``argv`` run through this launcher where it works (Linux, an executable that
    exists: else ``argv`` unchanged, which fails as before when it does not exist)."""
    if (not sys.platform.startswith("linux") or not argv or not sys.executable
            or shutil.which(argv[0]) is None):
        return argv
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), *argv]


@functools.cache
def manager_class() -> type:
    """jupyter-client's KernelManager, launching kernels through :func:`wrap`."""
    from jupyter_client.manager import KernelManager

    class Manager(KernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return wrap(super().format_kernel_cmd(extra_arguments))

    return Manager


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
