"""The kernel fork server ("zygote"): one process that has imported what an IPython
kernel imports at start-up, and forks a kernel for each request.

A build starts it (:mod:`.zygote`) with the kernel's own Python and environment, as
``python -c BOOT <this file> <fd>``: this file is read by path and imports nothing but
the standard library until :func:`main` pre-imports ipykernel and IPython (the kernel's
start-up imports, about 0.3 s of CPU that every kernel would pay again). ``<fd>`` is its
end of a ``SOCK_SEQPACKET`` socket pair; one JSON message a packet:

* zygote → build, once: ``{"ready": pid, "modules": [names]}`` (:func:`shadowable`), or
  ``{"error": text}`` (an import failed, or the imports left a thread running: forking
  would then be unsafe) and it exits;
* build → zygote: ``{"id", "argv", "env", "cwd", "token_file"}`` with the kernel's stdout and stderr
  as two descriptors (``SCM_RIGHTS``); zygote → build: ``{"id", "pid"}`` or
  ``{"id", "error"}``;
* zygote → build: ``{"exit": pid, "id", "code": returncode}`` when a kernel ends (``-N``:
  killed by signal N, as :class:`subprocess.Popen` says it).

A forked kernel is what ``python -m ipykernel_launcher -f FILE`` in that folder with
that environment would be: the environment replaced, the folder changed, ``sys.path[0]``
the folder (as ``-m`` sets it), ``sys.argv`` and ``__main__`` set by :mod:`runpy` as
``-m`` does, stdin ``/dev/null``, signal dispositions as at start-up. It leads its own
process group (the build signals and kills it by that group), gets SIGKILL when the
zygote ends (``PR_SET_PDEATHSIG``), and holds an anonymous file named ``token_file``
that the processes it forks inherit (:mod:`.procs` finds them by it). What is shared:
the modules imported here, and the seed of ``str`` hashing (each build's zygote has its
own).

With set-up code (a third argument, ``d2l_setup_code``), the zygote also runs the code's
leading ``import`` statements, after setting ``MPLBACKEND`` as the kernel would
(:func:`_import_setup`), so that each kernel's set-up code finds those modules imported.
It refuses (``{"error"}``, and the build uses a zygote without them) when an import fails,
when a module asks for IPython while imported (it would behave otherwise in a kernel;
matplotlib-inline's hook alone is done again in each kernel once its shell exists), when
CUDA was initialized, or when a thread survives a fork: the thread pools of OpenBLAS (numpy,
scipy) stop before each fork (``pthread_atfork``) and are not a reason; any other thread is.
Each kernel reseeds the generators that would otherwise be the same in every kernel
(numpy's global one, torch's default one).

The zygote ends when the build closes its socket, or dies (end of file, or its parent
changes), and SIGKILLs the process groups of the kernels still running first.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import signal
import socket
import sys
import traceback
from typing import Any

BOOT = ("import sys\n"
        "p = sys.argv[1]\n"
        "if not sys.flags.safe_path: del sys.path[0]\n"
        "g = {'__name__': '__d2l_zygote__', '__file__': p}\n"
        "exec(compile(open(p, encoding='utf-8').read(), p, 'exec'), g)\n"
        "g['main'](sys.argv[2:])\n")
"""The ``-c`` program that runs this file (``sys.path[0]``, the start folder that ``-c``
adds, is taken out again: a forked kernel puts its own folder there)."""

PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython.core.debugger", "IPython.core.completerlib", "IPython.core.oinspect",
    "IPython.extensions.storemagic", "IPython.core.logger", "sqlite3",
    "psutil", "tornado.platform.asyncio", "faulthandler",
)
"""What a kernel imports at start-up and by its first cells (those that exist), the first
the kernel itself (ipykernel's ``initialize`` imports psutil, about 6 ms a kernel)."""
INLINE = "module://matplotlib_inline.backend_inline"
"""The ``MPLBACKEND`` an IPython kernel sets when the environment has none (ipykernel's
``init_gui_pylab``)."""
IPYTHON_HOOKS = {"matplotlib_inline.backend_inline": "_enable_matplotlib_integration"}
"""Modules that may look for IPython when imported: the function that does what the
import would have done with a shell, run again in each kernel once its shell exists."""
RESEED = (("numpy.random", "seed"), ("torch.default_generator", "seed"))
"""Random generators seeded once at import (module, its method that reseeds it from the
system's entropy), reseeded in each kernel as a kernel of its own would be seeded."""
MAX_MESSAGE = 4 << 20
PR_SET_PDEATHSIG = 1
CHECK = 1.0
"""Seconds between checks of the parent while nothing happens."""


def main(args: list[str]) -> None:
    sock = socket.socket(fileno=int(args[0]))
    before = dict(os.environ)
    hooks: list[str] = []
    problem = _preload() or (_import_setup(args[1], hooks) if len(args) > 1 else "")
    if not problem:
        # objects made so far are never collected here: the kernels' collections leave
        # them alone, so their pages stay shared instead of being copied into each kernel
        gc.collect()
        gc.freeze()
        problem = _unsafe_threads()
    if problem:
        _send(sock, {"error": problem})
        return
    # what the imports did to the environment (debugpy sets PYDEVD_USE_FRAME_EVAL...), done
    # again in each kernel on top of its own environment, as its own imports would
    changes = {k: v for k, v in os.environ.items() if before.get(k) != v}
    removed = [k for k in before if k not in os.environ]
    _send(sock, {"ready": os.getpid(), "modules": shadowable()})
    _serve(sock, changes, removed, hooks)


def shadowable() -> list[str]:
    """The top-level modules imported here that a module in a kernel's folder would
    replace: IPython puts the folder on ``sys.path`` before the first ``site-packages``
    (or ``dist-packages``), after ``PYTHONPATH`` and the standard library; what was found
    in those comes first anyway, and so do built-in modules."""
    cut = next((i for i, p in enumerate(sys.path)
                if os.path.basename(os.path.normpath(p)) in ("site-packages", "dist-packages")),
               len(sys.path))
    early = tuple(os.path.join(os.path.abspath(p), "") for p in sys.path[:cut] if p)
    names = set()
    for name, module in list(sys.modules.items()):
        if "." in name or name in sys.builtin_module_names:
            continue
        places = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or ())]
        places = [os.path.abspath(str(p)) for p in places if p]
        if not places or not all(p.startswith(early) for p in places):
            names.add(name)
    return sorted(names)


def _preload() -> str:
    """Import :data:`PRELOAD`; a message if that fails."""
    try:
        importlib.import_module(PRELOAD[0])
    except BaseException as err:  # (any failure means: no fork server)
        return f"cannot import {PRELOAD[0]}: {type(err).__name__}: {err}"
    for name in PRELOAD[1:]:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    return ""


def setup_imports(code: str) -> list[ast.stmt]:
    """The leading ``import`` statements of ``code`` (absolute ones, up to its first other
    statement: what follows may change what they would import), as IPython reads it."""
    from IPython.core.inputtransformer2 import TransformerManager

    body = ast.parse(TransformerManager().transform_cell(code)).body
    leading: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom)
                                            and not node.level):
            leading.append(node)
        else:
            break
    return leading


def _import_setup(code: str, hooks: list[str]) -> str:
    """Run the leading imports of the set-up code ``code``; a message if this process is
    then unfit to fork kernels. ``hooks``: the IPython hooks to do again in each kernel."""
    try:
        statements = setup_imports(code)
    except Exception as err:  # (the kernel tells the user)
        return f"the set-up code does not parse: {type(err).__name__}: {err}"
    if not statements:
        return "the set-up code does not start with an import"
    if not os.environ.get("MPLBACKEND"):  # (what ipykernel does before any cell)
        os.environ["MPLBACKEND"] = INLINE
    callers: set[str] = set()
    with _watching_get_ipython(callers):
        for node in statements:
            try:
                exec(compile(ast.Module([node], []), "<d2l_setup_code>", "exec"),
                     {"__name__": "__d2l_setup__"})
            except BaseException as err:  # (the kernel's own import will say it)
                return f"the set-up imports failed: {type(err).__name__}: {err}"
    others = sorted(callers - set(IPYTHON_HOOKS))
    if others:
        return f"{', '.join(others)} asked for IPython while imported"
    hooks.extend(name for name in IPYTHON_HOOKS if name in callers)
    torch = sys.modules.get("torch")
    with contextlib.suppress(Exception):
        if torch is not None and torch.cuda.is_initialized():
            return "the set-up imports initialized CUDA"
    return ""


@contextlib.contextmanager
def _watching_get_ipython(callers: set[str]) -> Any:
    """Record the modules that call ``IPython.get_ipython`` within the block (the
    function stays wrapped in whatever took it meanwhile, and answers as before)."""
    import IPython
    from IPython.core import getipython

    real = getipython.get_ipython
    watching = [True]

    def get_ipython() -> Any:
        if watching[0]:
            callers.add(str(sys._getframe(1).f_globals.get("__name__", "?")))
        return real()

    getipython.get_ipython = IPython.get_ipython = get_ipython
    try:
        yield
    finally:
        watching[0] = False
        getipython.get_ipython = IPython.get_ipython = real


def _unsafe_threads() -> str:
    """A message if threads other than this one survive a fork (a thread pool that stops
    itself before a fork, as OpenBLAS's does, is safe: it is gone in the child)."""
    if _threads() > 1:
        with contextlib.suppress(OSError):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
    threads = _threads()
    if threads != 1:
        return f"the imports left {threads - 1} thread(s) running: forking is unsafe"
    return ""


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the build is gone: the loop ends on its own
        sock.send(json.dumps(message).encode())


def _serve(sock: socket.socket, changes: dict[str, str], removed: list[str],
           hooks: list[str]) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    parent = os.getppid()
    own = [sock.fileno(), wake_r, wake_w]
    children: dict[int, Any] = {}
    """pid → the id of the request that forked it."""
    try:
        while os.getppid() == parent:
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [], CHECK)
            if wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 512)
            _reap(sock, children)
            if sock.fileno() in ready and not _handle(sock, children, own,
                                                      (changes, removed), hooks):
                break
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def _reap(sock: socket.socket, children: dict[int, Any]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        number = children.pop(pid, None)
        _send(sock, {"exit": pid, "id": number, "code": os.waitstatus_to_exitcode(status)})


def _handle(sock: socket.socket, children: dict[int, Any], own: list[int],
            env_changes: tuple[dict[str, str], list[str]], hooks: list[str]) -> bool:
    """Serve one request; False at the end of the build's socket."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
    except OSError:
        return False
    if not data:
        return False
    request: Any = None
    try:
        request = json.loads(data)
        if len(fds) != 2:
            raise ValueError(f"expected the kernel's stdout and stderr, got {len(fds)} fds")
        env = dict(request["env"])
        env.update(env_changes[0])
        for name in env_changes[1]:
            env.pop(name, None)
        request["env"] = env
        pid = _fork(request, fds, own, hooks)
    except Exception as err:  # (told to the build)
        _send(sock, {"id": request.get("id") if isinstance(request, dict) else None,
                     "error": f"{type(err).__name__}: {err}"})
        return True
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    children[pid] = request["id"]
    _send(sock, {"id": request["id"], "pid": pid})
    return True


def _fork(request: dict[str, Any], fds: list[int], own: list[int], hooks: list[str]) -> int:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:  # the kernel: never returns
        code = 1
        try:
            code = _kernel(request, fds, own, zygote, hooks)
        except SystemExit as end:
            code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
        except BaseException:  # (into the kernel's log)
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    with contextlib.suppress(OSError):  # (the child does it too: no race)
        os.setpgid(pid, pid)
    return pid


def _kernel(request: dict[str, Any], fds: list[int], own: list[int], zygote: int,
            hooks: list[str]) -> int:
    """In the forked child: become the kernel that ``request`` describes, and run it."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    _die_with_parent()
    if os.getppid() != zygote:  # the zygote died before the signal was set
        return 1
    for fd in own:
        with contextlib.suppress(OSError):
            os.close(fd)
    # the token file: inherited by the processes this kernel forks (kept open, never read)
    with contextlib.suppress(OSError, AttributeError):
        os.memfd_create(request["token_file"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in (null, *fds):
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    argv = request["argv"]  # [python, "-m", module, *args]
    sys.argv = [argv[0], *argv[3:]]
    if not sys.flags.safe_path:
        sys.path.insert(0, os.getcwd())
    _reseed()
    _hook_shell(hooks)
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    return 0


def _reseed() -> None:
    for name, method in RESEED:
        module, _, attribute = name.rpartition(".")
        owner = sys.modules.get(name) or getattr(sys.modules.get(module), attribute, None)
        with contextlib.suppress(Exception):
            if owner is not None:
                getattr(owner, method)()


def _hook_shell(hooks: list[str]) -> None:
    """Do :data:`IPYTHON_HOOKS`' functions of ``hooks`` once the kernel's shell exists
    (at the end of ``IPKernelApp.init_gui_pylab``, where it sets ``MPLBACKEND``)."""
    if not hooks:
        return
    from ipykernel.kernelapp import IPKernelApp

    original = IPKernelApp.init_gui_pylab

    def init_gui_pylab(app: Any) -> None:
        original(app)
        for name in hooks:
            with contextlib.suppress(Exception):  # (as the import would have failed)
                getattr(sys.modules[name], IPYTHON_HOOKS[name])()

    IPKernelApp.init_gui_pylab = init_gui_pylab  # type: ignore[method-assign]


def _die_with_parent() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
