"""Stages of a run: reuse what a fingerprint says is current, compute the rest, replace a
finished run only when the new one has finished.

A :class:`Stage` declares its folder name, its fingerprint (config + upstream
fingerprints), how to compute its artifacts into a folder and how to load them back.
:class:`RunDirectory` runs stages into a run directory:

* a stage whose ``stage.json`` fingerprint matches, and whose artifacts still have the
  sha256 digests recorded there, is loaded instead of recomputed;
* a stage to recompute is computed into ``<name>.new/`` (its ``work/`` checkpoints there,
  so an interrupted stage resumes), and the ``.new`` folders replace the finished ones only
  when the whole run succeeds (:meth:`RunDirectory.promote`): a crash never leaves a
  finished run half-replaced;
* ``attempt.json`` says what the run in progress is doing (``running``) or why it failed
  (``failed`` and the error); ``run.json`` describes the last run that finished;
* one process at a time: a lock file names the process that holds the directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs

from .artifacts import StageRecord, load_embeddings, load_sids, save_embeddings, save_sids, write_json
from .context import Context
from .errors import ArtifactError, SidkitError
from .protocols import Stateful
from .types import ItemEmbeddings, SIDTable

__all__ = [
    "Stage", "RunDirectory", "RunLocked", "ATTEMPT_FILE", "PENDING_SUFFIX",
    "encoder_stage", "tokenizer_stage", "generator_stage",
]

log = logging.getLogger("sidkit")

T = TypeVar("T")

ATTEMPT_FILE = "attempt.json"
LOCK_FILE = ".lock"
PENDING_SUFFIX = ".new"
OLD_SUFFIX = ".old"


@attrs.define
class Stage(Generic[T]):
    """One reuse-or-compute step. ``compute(folder)`` writes the stage's artifacts into
    ``folder`` and returns its value; ``load(folder)`` reads them back; ``info(value)`` is
    extra JSON for ``stage.json`` (the artifacts' digests are added and checked on reuse)."""

    name: str
    fingerprint: str
    compute: Callable[[Path], T]
    load: Callable[[Path], T]
    info: Callable[[T], dict[str, Any]] = lambda value: {}
    #: under torchrun: every rank computes it (DDP training, sharded ranking); otherwise
    #: rank 0 computes it and the other ranks load what it wrote
    collective: bool = False


class RunLocked(ArtifactError):
    """Another process is writing the same run directory."""


class _Lock:
    """An exclusive advisory lock on ``path`` (``fcntl``; a no-op where it is missing)."""

    def __init__(self, path: Path):
        self.path, self._fd = path, None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, no protection
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent}: in use by another sidkit process ({holder}); wait for it or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


class RunDirectory:
    """The run directory ``out`` while a run writes it (a context manager: lock, attempt
    record, promotion of the new stages on success, ``failed`` on an exception).

    Under ``torchrun`` (``rank``/``world_size`` of the process group) rank 0 alone locks,
    records and promotes; see :meth:`run` for how the ranks share stages."""

    def __init__(self, out: str | Path, *, rank: int = 0, world_size: int = 1):
        self.out = Path(out)
        self.rank, self.world_size = rank, world_size
        self.reused: dict[str, bool] = {}
        self.timings: dict[str, float] = {}
        self._pending: list[str] = []
        self._lock = _Lock(self.out / LOCK_FILE)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def __enter__(self) -> RunDirectory:
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
            try:
                self._repair()
                write_json(
                    self.out / ATTEMPT_FILE,
                    {"status": "running", "pid": os.getpid(), "started": time.time(), "world_size": self.world_size},
                )
            except BaseException:
                self._lock.release()
                raise
        _barrier()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is not None and self.is_main:
                self._record_failure(exc)
        finally:
            self._lock.release()

    def _record_failure(self, exc: BaseException) -> None:
        record = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "failed": time.time(), "pid": os.getpid()}
        try:
            write_json(self.out / ATTEMPT_FILE, record)
        except OSError:  # a full disk: the original error matters more
            log.warning("could not record the failure in %s", self.out / ATTEMPT_FILE)

    def finish(self, run_info: dict[str, Any]) -> None:
        """Promote every stage computed in this run, then write ``run.json``: the run has
        finished."""
        if self.is_main:
            self.promote()
            write_json(self.out / "run.json", run_info)
            (self.out / ATTEMPT_FILE).unlink(missing_ok=True)
        _barrier()

    # -- stages ------------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        """Where stage ``name``'s current artifacts are read from in this run."""
        pending = self.out / f"{name}{PENDING_SUFFIX}"
        return pending if name in self._pending else self.out / name

    def run(self, stage: Stage[T]) -> T:
        """The value of ``stage``: loaded when a finished copy is current, else computed.

        Under torchrun rank 0 decides: a stage it finds current is loaded by every rank; a
        ``collective`` stage is computed by every rank into the same folder (rank 0 alone
        records it; the stage's ``compute`` writes artifacts on rank 0 only); any other stage
        is computed by rank 0 while the others wait, then loaded."""
        t0 = time.perf_counter()
        found = self._find(stage) if self.is_main else None
        if self.world_size > 1:
            found = _broadcast_choice(found, self.out, stage.name)
        if found is not None:
            value = self._load(stage, found)
        elif stage.collective or self.is_main:
            value = self._compute(stage)
        else:
            _barrier()  # rank 0 computes, then the others load its copy
            value = self._load(stage, self.out / f"{stage.name}{PENDING_SUFFIX}")
            self.reused[stage.name] = False
        self.timings[stage.name] = time.perf_counter() - t0
        return value

    def _compute(self, stage: Stage[T]) -> T:
        pending = self.out / f"{stage.name}{PENDING_SUFFIX}"
        record = StageRecord(pending)
        if self.is_main:
            record.start(stage.fingerprint)
        if stage.collective:
            _barrier()  # the work folder is ready (resumable checkpoints kept or cleared)
        value = stage.compute(pending)
        if self.is_main:
            record.mark_done(stage.fingerprint, **stage.info(value))
        if self.world_size > 1 and (stage.collective or self.is_main):
            _barrier()
        self._pending.append(stage.name)
        self.reused[stage.name] = False
        return value

    def _find(self, stage: Stage[T]) -> Path | None:
        """The folder of a finished, intact copy of ``stage`` with its fingerprint."""
        for folder in (self.out / stage.name, self.out / f"{stage.name}{PENDING_SUFFIX}"):
            record = StageRecord(folder)
            if not record.is_current(stage.fingerprint):
                continue
            problems = record.verify()
            if not problems:
                return folder
            log.warning("stage %s: recomputing, its stored artifacts do not check out: %s", stage.name, "; ".join(problems))
        return None

    def _load(self, stage: Stage[T], folder: Path) -> T:
        if folder.name != stage.name:
            self._pending.append(stage.name)  # finished by an earlier attempt, not yet promoted
        self.reused[stage.name] = True
        return stage.load(folder)

    def promote(self) -> None:
        """Replace each finished stage by its ``.new`` folder (old moved aside, new renamed
        in, old deleted); :meth:`_repair` completes a promotion a crash interrupted."""
        for name in self._pending:
            new, cur, old = (self.out / f"{name}{s}" for s in (PENDING_SUFFIX, "", OLD_SUFFIX))
            if old.exists():
                shutil.rmtree(old)
            if cur.exists():
                os.replace(cur, old)
            os.replace(new, cur)
            shutil.rmtree(old, ignore_errors=True)
        self._pending.clear()

    def _repair(self) -> None:
        """Undo what a crash during :meth:`promote` left: a stage moved aside whose
        replacement never arrived is moved back; one that was replaced is dropped."""
        for old in self.out.glob(f"*{OLD_SUFFIX}"):
            cur = self.out / old.name[: -len(OLD_SUFFIX)]
            if cur.exists():
                shutil.rmtree(old)
            else:
                os.replace(old, cur)


def _barrier() -> None:
    from .training.distributed import barrier

    barrier()


def _broadcast_choice(found: Path | None, out: Path, name: str) -> Path | None:
    """Rank 0's choice of folder (none, the finished copy, the pending one) on every rank."""
    from .training.distributed import broadcast_float

    options = [None, out / name, out / f"{name}{PENDING_SUFFIX}"]
    code = broadcast_float(float(options.index(found)))
    return options[int(code)]


# -- the stages of the standard components --------------------------------------------------
# ``sidkit run`` and scenario runners (``sidkit continual``) build their stages from these, so
# an encoder, tokenizer or generator is computed, saved, fingerprinted and reloaded one way.
# ``ctx`` is the component's context without ``workdir``: compute sets it to ``<folder>/work``.


def encoder_stage(name: str, fp: str, encoder: Any, ctx: Context, *, label: str) -> Stage[ItemEmbeddings]:
    """``encoder.encode(ctx)`` checked (one finite row per catalog item; ``label`` names the
    encoder in errors) and saved; an encoder with ``save``/``load`` also keeps its state,
    so a warm start from it works after the stage was reused."""
    n = ctx.dataset.n_items

    def compute(folder: Path) -> ItemEmbeddings:
        from .encoders.checks import check_embeddings

        embeddings = encoder.encode(attrs.evolve(ctx, workdir=folder / "work"))
        if embeddings.n_items != n:
            raise SidkitError(f"{label} returned {embeddings.n_items} rows for {n} items")
        check_embeddings(embeddings.values, label, ctx.dataset.catalog.item_ids)
        save_embeddings(folder / "embeddings.safetensors", embeddings)
        if isinstance(encoder, Stateful):
            (folder / "state").mkdir(parents=True, exist_ok=True)
            encoder.save(folder / "state")
        return embeddings

    def load(folder: Path) -> ItemEmbeddings:
        if isinstance(encoder, Stateful) and (folder / "state").is_dir():
            encoder.load(folder / "state")
        return load_embeddings(folder / "embeddings.safetensors", n)

    return Stage(name, fp, compute, load, info=lambda e: {"shape": list(e.values.shape)})


def tokenizer_stage(name: str, fp: str, tokenizer: Any, embeddings: ItemEmbeddings, ctx: Context) -> Stage[SIDTable]:
    """``tokenizer`` fitted on ``embeddings`` and its SIDs (one row per embedding row)."""
    n = embeddings.n_items

    def compute(folder: Path) -> SIDTable:
        tokenizer.fit(embeddings, attrs.evolve(ctx, workdir=folder / "work", embeddings=embeddings))
        sids = tokenizer.assign(embeddings)
        if sids.n_items != n:
            raise SidkitError(f"tokenizer {type(tokenizer).__name__} assigned {sids.n_items} SIDs for {n} items")
        (folder / "state").mkdir(parents=True, exist_ok=True)
        tokenizer.save(folder / "state")
        save_sids(folder / "sids.safetensors", sids)
        return sids

    def load(folder: Path) -> SIDTable:
        tokenizer.load(folder / "state")
        return load_sids(folder / "sids.safetensors", n)

    return Stage(name, fp, compute, load, info=lambda t: {"codebook_sizes": list(t.codebook_sizes)})


def generator_stage(
    name: str, fp: str, generator: Any, sids: SIDTable, ctx: Context, *,
    info: Callable[[SIDTable], dict[str, Any]] = lambda table: {},
) -> Stage[SIDTable]:
    """``generator`` trained on ``sids`` (every rank under torchrun: DDP; rank 0 saves).
    Its value is the SID table it ended with: ``sids``, or the table ``fit`` returned
    (joint tokenizer training), which is saved beside the state."""
    from .training.distributed import is_main_process

    def compute(folder: Path) -> SIDTable:
        new = generator.fit(sids, attrs.evolve(ctx, workdir=folder / "work"))
        if is_main_process():
            (folder / "state").mkdir(parents=True, exist_ok=True)
            generator.save(folder / "state")
            if new is not None:
                save_sids(folder / "sids.safetensors", new)
        return sids if new is None else new

    def load(folder: Path) -> SIDTable:
        generator.load(folder / "state")
        path = folder / "sids.safetensors"
        return load_sids(path, sids.n_items) if path.exists() else sids

    return Stage(name, fp, compute, load, info=info, collective=True)
