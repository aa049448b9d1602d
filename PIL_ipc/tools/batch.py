"""Converting a folder tree of images to .ipc files, here or on a Dask cluster.

The work item is pure: image file bytes and encoder options in, .ipc bytes and PSNR out
(`encode_one`), so the same function runs in this process, in a local process pool or on the
workers of a Dask distributed cluster (which need not share a file system with us). Only this
process reads inputs and writes outputs, each output atomically and as soon as it arrives,
so an interruption loses nothing finished and leaves no partial file; a file whose output is
newer than it is skipped on the next run. A failing file is reported and the batch goes on.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from PIL import Image

from . import atomic, progress

log = logging.getLogger(__name__)

SUFFIX = ".ipc"


@dataclass(frozen=True)
class Job:
    """One image to convert."""

    source: Path
    target: Path
    name: str  # source path relative to the input folder, for messages


@dataclass
class Outcome:
    """What became of one job: the .ipc bytes and their PSNR, or the reason it failed."""

    name: str
    bytes_in: int
    data: bytes | None = None
    psnr: float = math.nan
    error: str | None = None


@dataclass
class Summary:
    """Totals of a batch."""

    converted: int = 0
    skipped: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    psnrs: list[float] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False

    def add(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            self.failures.append((outcome.name, outcome.error))
            return
        assert outcome.data is not None
        self.converted += 1
        self.bytes_in += outcome.bytes_in
        self.bytes_out += len(outcome.data)
        self.psnrs.append(outcome.psnr)

    def table(self) -> str:
        """The summary as a small text table."""
        finite = [p for p in self.psnrs if math.isfinite(p)]
        exact = len(self.psnrs) - len(finite)
        mean = f"{sum(finite) / len(finite):.2f} dB" if finite else "-"
        if exact:
            mean += f" ({exact} lossless left out)"
        ratio = f" ({100 * self.bytes_out / self.bytes_in:.1f} % of in)" if self.bytes_in else ""
        rows = [
            ("files converted", str(self.converted)),
            ("files skipped", f"{self.skipped} (output newer than input)"),
            ("files failed", str(len(self.failures))),
            ("bytes in", str(self.bytes_in)),
            ("bytes out", f"{self.bytes_out}{ratio}"),
            ("mean PSNR", mean),
        ]
        if self.interrupted:
            rows.append(("interrupted", "files not reached are left for the next run"))
        lines = [f"{k:<16} {v}" for k, v in rows]
        lines += [f"failed: {name}: {why}" for name, why in self.failures]
        return "\n".join(lines)


def _readable_extensions() -> set[str]:
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def find_jobs(indir: Path, outdir: Path) -> tuple[list[Job], int, list[Outcome]]:
    """Images under `indir` still to convert, how many are done already, and conflicts (two
    inputs with one output name). Files already .ipc and anything under `outdir` are left out."""
    extensions = _readable_extensions() - {SUFFIX}
    inside = outdir.resolve()
    jobs: list[Job] = []
    done = 0
    conflicts: list[Outcome] = []
    claimed: dict[Path, str] = {}
    for folder, dirs, files in os.walk(indir):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != inside)
        for file in sorted(files):
            source = here / file
            if source.suffix.lower() not in extensions:
                continue
            relative = source.relative_to(indir)
            target = (outdir / relative).with_suffix(SUFFIX)
            name = relative.as_posix()
            if target in claimed:
                conflicts.append(Outcome(name, 0, error=f"same output as {claimed[target]}"))
                continue
            claimed[target] = name
            try:
                if target.stat().st_mtime >= source.stat().st_mtime:
                    done += 1
                    continue
            except FileNotFoundError:
                pass
            jobs.append(Job(source, target, name))
    return jobs, done, conflicts


def encode_one(name: str, data: bytes, options: dict) -> Outcome:
    """Encode one image file's bytes; never raises for a bad file (the outcome says why)."""
    from . import transcode

    try:
        with Image.open(BytesIO(data)) as im:
            im.load()
            result = transcode.encode(im, options)
        psnr = transcode.quality(result.stored, result.data).psnr
    except Image.UnidentifiedImageError:
        return Outcome(name, len(data), error="not an image file Pillow can read")
    except Exception as e:  # any failure of one file is that file's outcome
        text = str(e).strip().splitlines()
        return Outcome(name, len(data), error=text[0] if text else type(e).__name__)
    return Outcome(name, len(data), result.data, psnr)


# --- where the work runs ---------------------------------------------------------------------

class _Backend:
    """Runs encode_one calls; `capacity` is how many to keep in flight."""

    capacity = 1

    def submit(self, job: Job, data: bytes, options: dict) -> None:
        raise NotImplementedError

    def next_done(self) -> tuple[Job, Outcome]:
        raise NotImplementedError

    def close(self, cancel: bool) -> None:
        pass


class _InProcess(_Backend):
    def __init__(self) -> None:
        self.ready: list[tuple[Job, Outcome]] = []

    def submit(self, job: Job, data: bytes, options: dict) -> None:
        self.ready.append((job, encode_one(job.name, data, options)))

    def next_done(self) -> tuple[Job, Outcome]:
        return self.ready.pop(0)


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent decides, the workers are terminated.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _ProcessPool(_Backend):
    def __init__(self, workers: int) -> None:
        # spawn: the workers start clean instead of forking a process that runs threads.
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(workers, initializer=_ignore_interrupts)
        self.capacity = 2 * workers
        self.done: queue.Queue = queue.Queue()

    def submit(self, job: Job, data: bytes, options: dict) -> None:
        def failed(e: BaseException) -> None:
            self.done.put((job, Outcome(job.name, len(data), error=f"worker failed: {e}")))

        self.pool.apply_async(encode_one, (job.name, data, options),
                              callback=lambda outcome: self.done.put((job, outcome)),
                              error_callback=failed)

    def next_done(self) -> tuple[Job, Outcome]:
        while True:
            try:  # a timeout keeps the wait interruptible by Ctrl-C
                return self.done.get(timeout=0.2)
            except queue.Empty:
                continue

    def close(self, cancel: bool) -> None:
        if cancel:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()


class _Dask(_Backend):
    def __init__(self, address: str) -> None:
        try:
            from distributed import Client, as_completed
        except ImportError:
            msg = 'ipc batch --dask needs Dask distributed: pip install "PIL_ipc[dask]"'
            raise OSError(msg) from None
        try:
            self.client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            raise OSError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        threads = sum(self.client.nthreads().values())
        self.capacity = 2 * max(1, threads)
        self.completed = as_completed([], with_results=False)
        self.jobs: dict = {}

    def submit(self, job: Job, data: bytes, options: dict) -> None:
        future = self.client.submit(encode_one, job.name, data, options, pure=False)
        self.jobs[future.key] = (job, len(data))
        self.completed.add(future)

    def next_done(self) -> tuple[Job, Outcome]:
        future = next(self.completed)
        job, size = self.jobs.pop(future.key)
        try:
            return job, future.result()
        except Exception as e:  # the task itself died (worker lost, ...)
            return job, Outcome(job.name, size, error=f"task failed on the cluster: {e}")

    def close(self, cancel: bool) -> None:
        if cancel and self.jobs:
            self.client.cancel(list(self.completed.futures))
        self.client.close()


def _backend(jobs: int, dask: str | None) -> _Backend:
    if dask:
        return _Dask(dask)
    return _InProcess() if jobs <= 1 else _ProcessPool(jobs)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # reported when it is read
        return 0


def run(jobs: list[Job], options: dict, *, workers: int = 1, dask: str | None = None,
        summary: Summary | None = None, on_outcome: Callable[[Outcome], None] | None = None
        ) -> Summary:
    """Convert `jobs` with `workers` local processes (or on the Dask cluster at `dask`), each
    output written as it arrives. Ctrl-C stops the batch: what is written stays."""
    summary = summary or Summary()
    if not jobs:
        return summary
    backend = _backend(workers, dask)
    pending = iter(jobs)
    in_flight = 0
    sizes = {job: _size(job.source) for job in jobs}
    bar = progress.FilesBar(len(jobs), sum(sizes.values()), "ipc batch")

    def record(job: Job, outcome: Outcome) -> None:
        if outcome.error is None and outcome.data is not None:
            try:
                job.target.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_bytes(job.target, outcome.data)
            except OSError as e:
                outcome = Outcome(outcome.name, outcome.bytes_in, error=e.strerror or str(e))
        if outcome.error is not None:
            log.warning("%s: %s", outcome.name, outcome.error)
        summary.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        bar.advance(sizes[job])

    def feed(n: int) -> int:
        """Submit up to n more jobs; returns how many went to the backend."""
        sent = 0
        while sent < n:
            job = next(pending, None)
            if job is None:
                break
            try:
                data = job.source.read_bytes()
            except OSError as e:
                record(job, Outcome(job.name, 0, error=f"cannot read: {e.strerror or e}"))
                continue
            backend.submit(job, data, options)
            sent += 1
        return sent

    cancel = True
    try:
        in_flight = feed(backend.capacity)
        while in_flight:
            job, outcome = backend.next_done()
            in_flight -= 1
            record(job, outcome)
            in_flight += feed(1)
        cancel = False
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        backend.close(cancel)
    return summary
