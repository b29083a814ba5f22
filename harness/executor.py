"""Where the runs of a grid execute: one after another in this process, in a local process pool, or as Ray tasks.

Why an executor and not a shell loop: the fifty-run grids users launch must spread over cores, GPUs or machines
and survive a crash. Every executor runs the same fully resolved specs through `runner.execute`, so the records
are identical whichever ran them (on CPU: same thread count, which is part of the spec); a run that raises is
recorded as failed in its spec.json by the runner, a task that dies (worker killed) leaves its run "incomplete"
and is reported as failed here, and re-running the command skips completed runs and resumes the rest.

    local, jobs=1   in this process (the default)
    local, jobs=N   a process pool of N workers (spawned, one run per worker at a time)
    ray             Ray tasks (`pip install -e .[ray]`): each task asks for `spec.threads` CPUs and, for a
                    CUDA run, one GPU; `ray_address` joins an existing cluster, otherwise a local one is started
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.config import RunSpec
from harness.errors import InputError

EXECUTORS = ("local", "ray")


def _execute(spec: RunSpec, run_dir: str) -> Any:
    """One run in a worker (top-level, so process pools and Ray can ship it)."""
    from harness.runner import execute

    return execute(spec, Path(run_dir), show_progress=False)


def _lost(spec: RunSpec, run_dir: Path, exc: BaseException) -> Any:
    """The result of a task that did not come back (worker died, Ray error): a failed run, never a lost one."""
    from harness.runner import RunResult

    error = {"type": type(exc).__name__, "message": f"the task did not finish: {exc}"}
    return RunResult(spec.run_id, run_dir, "failed", error=error)


def run_parallel(
    specs: Sequence[RunSpec],
    root: Path,
    *,
    executor: str,
    jobs: int,
    ray_address: str | None = None,
    on_done: Callable[[int], None] | None = None,
    task: Callable[[RunSpec, str], Any] = _execute,
) -> list[Any]:
    """Execute `specs` into root/<algorithm>/<run_id>/ on the chosen executor; results in spec order.
    `task(spec, run_dir)` is what a worker runs (a top-level function; tests substitute one). An InputError
    raised by a run (its input cannot be served, e.g. missing data) is re-raised after every task finished,
    as the sequential executor raises it (exit 2); any other failure is that run's failed result."""
    from harness.runner import run_dir_for

    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise InputError(f"--jobs {jobs} is not allowed; expected an integer >= 1")
    dirs = [run_dir_for(spec, root) for spec in specs]
    if executor == "ray":
        results = _run_ray(specs, dirs, ray_address, on_done, task)
    else:
        results = _run_pool(specs, dirs, jobs, on_done, task)
    for result in results:
        if isinstance(result, InputError):
            raise result
    return results


def _failure(spec: RunSpec, run_dir: Path, exc: BaseException) -> Any:
    """An InputError (also inside a Ray error) is returned as such, to be raised; anything else is a failed run."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, InputError):
        return exc
    if isinstance(cause, InputError):
        return cause
    return _lost(spec, run_dir, exc)


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: stop this worker when the process that started it is gone (killed, or stopped
    with a signal that skips the pool's shutdown). Without it an orphaned worker keeps training its run and
    the runs queued to it, writing into the output folder beside a restarted comparison. The run it leaves is
    incomplete and resumes on the next invocation."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_pool(
    specs: Sequence[RunSpec],
    dirs: list[Path],
    jobs: int,
    on_done: Callable[[int], None] | None,
    task: Callable[[RunSpec, str], Any],
) -> list[Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: list[Any] = [None] * len(specs)
    import os

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = {pool.submit(task, spec, str(d)): i for i, (spec, d) in enumerate(zip(specs, dirs, strict=True))}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker or an input error: recorded, not lost
                results[i] = _failure(specs[i], dirs[i], exc)
            if on_done is not None:
                on_done(done)
    return results


def _run_ray(
    specs: Sequence[RunSpec],
    dirs: list[Path],
    address: str | None,
    on_done: Callable[[int], None] | None,
    task: Callable[[RunSpec, str], Any],
) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: BLE001 - an unreachable or bad --ray-address is a user input
            raise InputError(f"--ray-address {address!r}: cannot start or join a Ray cluster ({exc})") from None
        started = True
    try:
        remote = ray.remote(task)
        refs = [
            remote.options(num_cpus=spec.threads, num_gpus=1 if spec.device == "cuda" else 0).remote(spec, str(d))
            for spec, d in zip(specs, dirs, strict=True)
        ]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(specs)
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            try:
                results[i] = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                results[i] = _failure(specs[i], dirs[i], exc)
            done += 1
            if on_done is not None:
                on_done(done)
        return results
    finally:
        if started:
            ray.shutdown()


def progress_printer(total: int) -> Callable[[int], None]:
    """on_done callback: one stderr line per finished run with the elapsed time and an estimate of the rest."""
    from harness.context import progress_line

    start = time.perf_counter()
    return lambda done: print(progress_line("runs", done, total, time.perf_counter() - start), file=sys.stderr)
