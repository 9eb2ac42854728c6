"""Cheap kernel starts: which kernels are forked from which fork server
(:mod:`.zygote`) instead of started from nothing (Linux).

A fresh ``python -m ipykernel_launcher`` spends about 0.3 s of CPU importing IPython,
ipykernel, zmq and debugpy before it answers; a kernel forked from a process that has
imported them spends about 0.07 s. On a machine whose cores are all busy running cells
(a build with ``d2l_workers`` = the CPUs), that CPU is the build's start-up cost.

While :func:`forking` is active (the local scheduler's run, ``d2l_fork_kernels``),
the provisioner of :func:`.launch.provisioner_class` forks every kernel whose kernelspec
is the standard IPython one (``<python> -m ipykernel_launcher ...`` or ``-m ipykernel``)
from a zygote of that Python
and environment (all variables but ``CUDA_VISIBLE_DEVICES`` and the kernel's token, which
each kernel gets its own of). Any other kernel, a zygote that does not start (ipykernel
missing, an import that starts a thread), or one too many environments: the kernel is
started as before, through :mod:`.launch`; so is the second try of a forked kernel that did
not start (:func:`.kernel.run_job`). Isolation is unchanged: one process per
kernel, never reused, killed with its process group at the end of its job.

A kernel with set-up code (``d2l_setup_code``) is forked from a zygote that has also run
the code's leading imports (``import torch``, ``from d2l import torch as d2l``: seconds
of CPU each kernel would spend again), one per (Python, full environment, set-up code,
library): it keeps the kernel's ``CUDA_VISIBLE_DEVICES`` (refusing when its imports
initialize CUDA), and the cache key part ``job.extra_key`` (the library's contents) names
it. When that zygote refuses (see :mod:`.zygote_main`), or when the page's folder holds
a module of the name of one it imported from where the folder comes first (IPython puts
a kernel's folder on ``sys.path`` before site-packages: :func:`.zygote_main.shadowable`),
the kernel is forked from the zygote without them.

A Dask worker keeps one :class:`Forks` per build (:class:`BuildForks`) and hands it to
the threads of that build's tasks (:func:`using`, :mod:`.dask_worker`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from . import launch, procs
from .zygote import ForkedProcess, Zygote, ZygoteError

PER_KERNEL = frozenset({"CUDA_VISIBLE_DEVICES", procs.TOKEN_VAR})
"""Variables that may differ between kernels of one zygote without set-up imports."""
MAX_ZYGOTES = 4
"""Zygotes (Python and environment pairs) at once, and as many again with set-up imports;
further kernels start as before."""
FORKS_IDLE = 60.0
"""Seconds without a task of a build after which a worker ends that build's fork servers
(the build ends them itself when it ends: :func:`end_forks`; this is for a build that
died); ``D2L_WORKER_FORKS_IDLE`` in the worker's environment sets another."""
FORKS_IDLE_VAR = "D2L_WORKER_FORKS_IDLE"
Key = tuple[str, frozenset[tuple[str, str]], str, str]
"""A zygote's Python, environment, set-up code and library stamp ('' and '': none)."""


class Forks:
    """The zygotes of one run, by :data:`Key`; :meth:`fork` starts them on first use.
    Thread-safe. ``setup_imports``: fork kernels with set-up code from zygotes that ran
    its imports (``d2l_fork_setup_imports``)."""

    def __init__(self, setup_imports: bool = True) -> None:
        self.setup_imports = setup_imports
        self.lock = threading.Lock()
        self.zygotes: dict[Key, Zygote] = {}
        self.starting: dict[Key, threading.Event] = {}
        self.broken: set[Key] = set()
        self.closed = False
        self.token = procs.new_token()
        self.notes: list[str] = []
        """Why a zygote could not be used (each once)."""
        self.forked = 0
        """Kernels forked."""

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str | None,
             stdout: int, stderr: int, setup: tuple[str, str] = ("", "")
             ) -> ForkedProcess | None:
        """The kernel ``argv`` forked, or None when it can't be (start it as before).
        ``setup``: the kernel's set-up code and the stamp of the library it may import."""
        python = forkable(argv)
        if python is None:
            return None
        for key in self._keys(python, env, setup):
            zygote = self._zygote(key)
            if zygote is None or shadowed(cwd, zygote.modules):
                continue
            try:
                process = zygote.fork([python, *argv[1:]], env, cwd, stdout, stderr)
            except ZygoteError as err:
                self._drop(key, zygote, str(err))
                continue
            with self.lock:
                self.forked += 1
            return process
        return None

    def _keys(self, python: str, env: Mapping[str, str], setup: tuple[str, str]) -> list[Key]:
        base = (python, frozenset((k, v) for k, v in env.items() if k not in PER_KERNEL), "", "")
        if not (self.setup_imports and has_imports(setup[0])):
            return [base]
        full = frozenset((k, v) for k, v in env.items() if k != procs.TOKEN_VAR)
        return [(python, full, setup[0], setup[1]), base]

    def _zygote(self, key: Key) -> Zygote | None:
        """The running zygote of ``key``, started if need be (one thread starts it, the
        others wait for it); None when it can't be had."""
        while True:
            with self.lock:
                zygote = self.zygotes.get(key)
                if zygote is not None and zygote.alive():
                    return zygote
                if key in self.broken or self.closed:
                    return None
                event = self.starting.get(key)
                if event is None:
                    kind = sum(bool(k[2]) == bool(key[2]) for k in self.zygotes)
                    if zygote is None and kind >= MAX_ZYGOTES:
                        return None
                    if zygote is not None:  # ended (killed): one more, never a third
                        self.broken.add(key)
                        del self.zygotes[key]
                    self.starting[key] = event = threading.Event()
                    break
            event.wait()
        if zygote is not None:
            zygote.close()
        return self._start(key, event)

    def _start(self, key: Key, event: threading.Event) -> Zygote | None:
        zenv = dict(key[1])  # (with set-up imports, the kernel's GPUs: see _keys)
        if not key[2]:
            zenv["CUDA_VISIBLE_DEVICES"] = ""
        zenv.update({procs.TOKEN_VAR: self.token, procs.ZYGOTE_VAR: "1"})
        zygote: Zygote | None = None
        try:
            zygote = Zygote(key[0], zenv, setup=key[2])
        except (OSError, ValueError, ZygoteError) as err:  # (ValueError: a NUL in argv)
            with self.lock:
                self.broken.add(key)
                self.notes.append(str(err) if isinstance(err, ZygoteError) else
                                  f"the kernel fork server did not start: {err}")
        finally:
            with self.lock:
                if zygote is not None and not self.closed:
                    self.zygotes[key] = zygote
                self.starting.pop(key, None)
                event.set()
        if zygote is not None and self.closed:
            zygote.close()
            return None
        return zygote

    def _drop(self, key: Key, zygote: Zygote, why: str) -> None:
        with self.lock:
            self.broken.add(key)
            self.notes.append(why)
            if self.zygotes.get(key) is zygote:
                self.zygotes.pop(key)
        zygote.close()

    def close(self) -> None:
        """End the zygotes, then kill whatever holds their token still: processes that
        kernels forked and orphaned (each job's end kills its own already)."""
        with self.lock:
            self.closed = True
            zygotes = list(self.zygotes.values())
            self.zygotes.clear()
        for zygote in zygotes:
            zygote.close()
        token = self.token.encode()
        procs.kill_matching(lambda value: value == token)


def has_imports(code: str) -> bool:
    """Whether set-up code may start with imports worth a zygote of their own (the zygote
    reads it as IPython does: :func:`.zygote_main.setup_imports`)."""
    return bool(_IMPORT.search(code))


_IMPORT = re.compile(r"^\s*(import|from)\s", re.MULTILINE)
_MODULE_FILE = re.compile(r"^([A-Za-z_]\w*)(\.py[cw]?|\..*\.so|\.so|\.pyd)$")


def shadowed(cwd: str | None, modules: frozenset[str]) -> str:
    """The first of ``modules`` (top-level names that the folder would replace) of which
    the folder ``cwd`` holds a module or package, or that would read a file there when
    imported (``matplotlibrc``); '' when none."""
    if not cwd or not modules:
        return ""
    try:
        entries = os.listdir(cwd)
    except OSError:
        return ""
    for entry in entries:
        match = _MODULE_FILE.match(entry)
        name = match.group(1) if match else entry
        if name in modules and (match is not None or os.path.isfile(
                os.path.join(cwd, entry, "__init__.py"))):
            return name
    if "matplotlib" in modules and "matplotlibrc" in entries:
        return "matplotlib"
    return ""


def forkable_platform() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def forkable(argv: list[str]) -> str | None:
    """The Python of an IPython kernel command that a zygote can fork, else None."""
    if not forkable_platform() or not launch.runs_ipykernel(argv):
        return None
    return shutil.which(argv[0])


_lock = threading.Lock()
_current: Forks | None = None
_users = 0
_thread = threading.local()


def current() -> Forks | None:
    """The active zygotes (this thread's, see :func:`using`, else those of
    :func:`forking`), or None (kernels start as before)."""
    return getattr(_thread, "forks", None) or _current


@contextlib.contextmanager
def using(forks: Forks | None) -> Iterator[Forks | None]:
    """Fork the kernels this thread starts within this block from ``forks`` (a Dask
    worker's, kept from task to task; None: as outside the block)."""
    before = getattr(_thread, "forks", None)
    _thread.forks = forks
    try:
        yield forks
    finally:
        _thread.forks = before


@contextlib.contextmanager
def forking(enabled: bool = True, setup_imports: bool = True) -> Iterator[Forks | None]:
    """Fork kernels from zygotes within this block (nested and concurrent blocks share
    them, with the first one's ``setup_imports``; the last to leave closes them)."""
    global _current, _users
    if not enabled or not forkable_platform():
        yield None
        return
    with _lock:
        if _current is None:
            _current = Forks(setup_imports)
        _users += 1
        forks = _current
    try:
        yield forks
    finally:
        with _lock:
            _users -= 1
            done = _users == 0
            if done:
                _current = None
        if done:
            forks.close()


def launch_kernel(argv: list[str], kwargs: Mapping[str, Any], forks: Forks | None,
                  setup: tuple[str, str] = ("", "")) -> ForkedProcess | None:
    """The kernel forked from ``forks`` as jupyter-client's ``launch_kernel(argv,
    **kwargs)`` would start it, or None (no zygotes, or not forkable). ``setup``: see
    :meth:`Forks.fork`."""
    if forks is None:
        return None
    env = dict(kwargs.get("env") or os.environ)
    env["JPY_PARENT_PID"] = str(os.getpid())  # (as jupyter-client's launcher sets it)
    cwd = kwargs.get("cwd")
    if cwd is not None and not os.path.isdir(cwd):
        raise FileNotFoundError(2, "No such file or directory", str(cwd))
    out, err = _fd(kwargs.get("stdout"), 1), _fd(kwargs.get("stderr"), 2)
    if out is None or err is None:
        return None
    return forks.fork(list(argv), env, None if cwd is None else str(cwd), out, err, setup)


def _fd(stream: Any, default: int) -> int | None:
    """The descriptor of a ``Popen`` stream argument; None for a pipe (not forkable)."""
    if stream is None:
        return default
    if isinstance(stream, int):
        return stream if stream >= 0 else None
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


class BuildForks:
    """The fork servers of one build kept from task to task (a Dask worker's: the build's
    first task starts them; :meth:`end`, or :data:`FORKS_IDLE` seconds without a task of
    the build, ends them), and its tasks running."""

    builds: dict[str, BuildForks] = {}
    lock = threading.Lock()

    def __init__(self, build: str, setup_imports: bool) -> None:
        self.build = build
        self.forks = Forks(setup_imports)
        self.running = 0
        self.idle_since = time.monotonic()
        self.timer: threading.Timer | None = None

    @classmethod
    @contextlib.contextmanager
    def of(cls, build: str | None, setup_imports: bool = True) -> Iterator[None]:
        """Within this block, the kernels this thread starts are forked from the fork
        servers of ``build`` (None, or not on Linux: started as before)."""
        if build is None or current() is not None or not forkable_platform():
            yield
            return
        with BuildForks.lock:
            entry = cls.builds.get(build)
            if entry is None:
                entry = cls.builds[build] = cls(build, setup_imports)
            entry.running += 1
        try:
            with using(entry.forks):
                yield
        finally:
            with BuildForks.lock:
                entry.running -= 1
                entry.idle_since = time.monotonic()
                if entry.timer is None:
                    entry.watch(_forks_idle())

    def watch(self, delay: float) -> None:
        """Look again in ``delay`` seconds whether this build is idle (with :attr:`lock`)."""
        self.timer = threading.Timer(delay, self._check)
        self.timer.daemon = True
        self.timer.start()

    def _check(self) -> None:
        with BuildForks.lock:
            self.timer = None
            left = _forks_idle() - (time.monotonic() - self.idle_since)
            if self.running or left > 0:
                if not self.running:
                    self.watch(left)
                return
            if self.builds.get(self.build) is self:
                del self.builds[self.build]
        self.forks.close()

    @classmethod
    def end(cls, build: str | None = None) -> int:
        """End the fork servers of ``build`` (None: of every build); how many builds'."""
        with BuildForks.lock:
            ended = [e for e in cls.builds.values() if build in (None, e.build)]
            for entry in ended:
                del cls.builds[entry.build]
        for entry in ended:
            if entry.timer is not None:
                entry.timer.cancel()
            entry.forks.close()
        return len(ended)


def _forks_idle() -> float:
    try:
        return max(0.0, float(os.environ.get(FORKS_IDLE_VAR, FORKS_IDLE)))
    except ValueError:
        return FORKS_IDLE
