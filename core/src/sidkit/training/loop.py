"""A small, reusable training loop with exact resume, early stopping and DDP.

Exact resume: the batch order of epoch ``e`` is a permutation drawn from a generator
seeded with ``(seed, e)``, and a checkpoint holds the position (epoch, step in epoch),
the optimizer, scheduler and every RNG state (so dropout continues identically). A run
killed at any moment and restarted with the same arguments ends with bitwise the same
parameters as an unbroken run (same machine, same thread count).

Distributed (``torchrun``): every rank draws the same permutation and takes
``indices[rank::world]`` of each global batch; per-rank losses are weighted by shard size,
so the gradient DDP averages equals the full-batch gradient. Only rank 0 validates,
writes checkpoints and shows progress.

Mixed precision (``cfg.precision = "bf16"``): the ``loss_fn`` call and validation run under
``torch.autocast(dtype=torch.bfloat16)``; backward, gradient clipping and the optimizer
step run outside it on the float32 weights, which are also what checkpoints hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from tqdm.auto import tqdm

from ..errors import ArtifactError, SidkitError
from .batching import epoch_order
from .checkpoint import capture_rng, load_checkpoint, load_weights, read_checkpoint, save_checkpoint, save_weights
from .config import TrainConfig
from .device import DeviceUnavailableError, resolve_device
from .distributed import DistInfo, all_gather_bytes, all_reduce_sum, barrier, broadcast_float, init_distributed
from .optim import build_optimizer, build_scheduler, param_groups
from .seed import derive_seed, make_generator, seed_everything
from .throughput import Throughput

__all__ = ["fit", "FitResult", "NonFiniteLossError", "steps_per_epoch", "config_fingerprint"]

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_FILE = "best.safetensors"
TRAIN_LOG = "train_log.jsonl"  # the history so far, one JSON record per epoch (rewritten each epoch)
_PERMUTATION_STREAM, _TRAIN_RNG_STREAM = 0, 1
# settings that do not change the numbers a run produces; a resume may change them
_COSMETIC = ("progress", "log_every_steps", "checkpoint_every_steps", "tensorboard")
TENSORBOARD_DIR = "tensorboard"


def _summary_writer(logdir: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` for ``logdir``, or a SidkitError when the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SidkitError("train.tensorboard = true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(log_dir=str(logdir))


class NonFiniteLossError(SidkitError, FloatingPointError):
    """The training loss became NaN or infinite."""


@attrs.frozen
class FitResult:
    """What :func:`fit` did. Epochs are 1-based; ``best_*`` are ``None`` without validation."""

    best_metric: float | None
    best_epoch: int | None
    epochs_run: int
    global_step: int
    history: list[dict[str, Any]]
    stopped_early: bool


@attrs.define
class _State:
    """Loop position and early-stopping state; saved as JSON in every checkpoint."""

    epoch: int = 0  # 0-based index of the epoch in progress (= epochs completed)
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0  # this epoch, all ranks: sum over steps of shard loss * shard size
    loss_count: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    done: bool = False
    history: list[dict[str, Any]] = attrs.field(factory=list)


def steps_per_epoch(n_examples: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps per epoch: ``ceil(n / batch_size)``; in a distributed run a last
    batch with fewer examples than ranks is dropped."""
    n_batches = math.ceil(n_examples / batch_size)
    rest = n_examples % batch_size
    if world_size > 1 and 0 < rest < world_size:
        n_batches -= 1
    return n_batches


def config_fingerprint(cfg: TrainConfig, *, seed: int, n_examples: int, world_size: int, extra: Any = None) -> str:
    """Hash of everything that changes a run's numbers; a checkpoint resumes only when it matches."""
    settings = {k: v for k, v in attrs.asdict(cfg).items() if k not in _COSMETIC}
    if not settings["optim"].get("groups"):  # absent before groups existed: old checkpoints still resume
        settings["optim"].pop("groups", None)
    blob = json.dumps([settings, seed, n_examples, world_size, extra], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _autocast_factory(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the context the forward pass runs in: nothing for ``fp32``, bfloat16
    autocast on ``device``'s type for ``bf16`` (raising when the device cannot do it)."""
    if precision == "fp32":
        return contextlib.nullcontext
    if not torch.amp.is_autocast_available(device.type):
        raise DeviceUnavailableError(f"precision 'bf16' needs autocast, which torch does not support on {device}")
    if device.type == "cuda":
        with torch.cuda.device(device):
            supported = torch.cuda.is_bf16_supported(including_emulation=False)
        if not supported:
            raise DeviceUnavailableError(f"precision 'bf16': {device} does not support bfloat16; use precision 'fp32'")
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _check_finite(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLossError(f"training loss is {loss} {where}; lower optim.lr, set grad_clip or check the data")


class _Trainer:
    def __init__(
        self,
        model,
        *,
        loss_fn,
        n_examples,
        make_batch,
        cfg,
        seed,
        device,
        workdir,
        validate,
        metric_name,
        on_epoch_end,
        fingerprint_extra,
        lengths,
    ):
        if n_examples < 1:
            raise ValueError(f"n_examples must be >= 1, got {n_examples}")
        self.info: DistInfo = init_distributed(resolve_device(device))
        self.device = resolve_device(device, local_rank=self.info.local_rank)
        self.cfg, self.seed, self.n_examples = cfg, seed, n_examples
        self.loss_fn, self.make_batch, self.validate = loss_fn, make_batch, validate
        self.metric_name, self.on_epoch_end = metric_name, on_epoch_end
        self.lengths = lengths if cfg.group_by_length else None
        self.workdir = Path(workdir) if workdir is not None else None
        self.steps_per_epoch = steps_per_epoch(n_examples, cfg.batch_size, self.info.world_size)
        if self.steps_per_epoch < 1:
            raise ValueError(f"n_examples ({n_examples}) is smaller than the number of ranks ({self.info.world_size})")
        self.total_steps = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.fingerprint = config_fingerprint(
            cfg, seed=seed, n_examples=n_examples, world_size=self.info.world_size, extra=fingerprint_extra
        )

        self.autocast = _autocast_factory(cfg.precision, self.device)
        self.model = model.to(self.device)
        seed_everything(derive_seed(seed, _TRAIN_RNG_STREAM, self.info.rank))
        self.optimizer = build_optimizer(param_groups(self.model, cfg.optim), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.scheduler, self.total_steps)
        self.state = _State()
        self._window_loss = torch.zeros((), device=self.device)  # summed on device: no sync per step
        self._window_n = 0
        self._best_in_memory: dict[str, torch.Tensor] | None = None
        self.tensorboard = None
        if cfg.tensorboard and self.info.is_main:
            if self.workdir is None:
                raise SidkitError("train.tensorboard = true needs a work directory to write to (ctx.workdir / fit(workdir=...))")
            self.tensorboard = _summary_writer(self.workdir / TENSORBOARD_DIR)
        self._resume()
        self.train_model = self.model
        if self.info.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    # -- checkpoints ------------------------------------------------------------------

    @property
    def ckpt_dir(self) -> Path | None:
        return self.workdir / CHECKPOINT_DIR if self.workdir is not None else None

    def _resume(self) -> None:
        if self.ckpt_dir is None:
            return
        found = read_checkpoint(self.ckpt_dir)
        if found is None:
            return
        if found.metadata.get("fingerprint") != self.fingerprint:
            raise ArtifactError(
                f"{self.ckpt_dir} holds a checkpoint of a different training run (config, seed, data size "
                f"or number of processes changed: fingerprint {found.metadata.get('fingerprint')}, now "
                f"{self.fingerprint}); delete {self.ckpt_dir} to start over or use a new output directory"
            )
        ckpt = load_checkpoint(
            self.ckpt_dir,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            restore_rng_of_rank=self.info.rank,
            device=self.device,
        )
        self.state = _State(**ckpt.state)
        if not self.info.is_main:  # rank 0 carries the epoch's loss sum of all ranks
            self.state.loss_sum, self.state.loss_count = 0.0, 0
        log.info("resuming from %s (epoch %d, step %d)", ckpt.path, self.state.epoch + 1, self.state.step_in_epoch)

    def _flush_loss(self) -> float:
        """Move this rank's loss since the last flush into the epoch totals; return its mean."""
        total, n = float(self._window_loss), self._window_n
        self._window_loss.zero_()
        self._window_n = 0
        self.state.loss_sum += total
        self.state.loss_count += n
        return total / max(1, n)

    def _gather_loss(self) -> None:
        """Sum the epoch's loss over ranks into rank 0's state (the others keep 0)."""
        self._flush_loss()
        totals = all_reduce_sum(torch.tensor([self.state.loss_sum, float(self.state.loss_count)]))
        if self.info.is_main:
            self.state.loss_sum, self.state.loss_count = float(totals[0]), int(totals[1])
        else:
            self.state.loss_sum, self.state.loss_count = 0.0, 0

    def _checkpoint(self) -> None:
        if self.ckpt_dir is None:
            return
        self._gather_loss()
        rngs = [json.loads(b) for b in all_gather_bytes(json.dumps(capture_rng(self.device)).encode())]
        if self.info.is_main:
            save_checkpoint(
                self.ckpt_dir,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                state=attrs.asdict(self.state),
                metadata={"fingerprint": self.fingerprint, "world_size": self.info.world_size},
                rng=rngs,
            )

    # -- best weights -----------------------------------------------------------------

    def _save_best(self) -> None:
        if self.workdir is None:
            self._best_in_memory = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        elif self.info.is_main:
            save_weights(self.workdir / BEST_FILE, self.model, {"epoch": str(self.state.best_epoch)})

    def _restore_best(self) -> None:
        if self.state.best_epoch is None:
            return
        if self._best_in_memory is not None:
            self.model.load_state_dict(self._best_in_memory)
        elif self.workdir is not None:
            barrier()
            load_weights(self.workdir / BEST_FILE, self.model)

    # -- epochs -----------------------------------------------------------------------

    def _evaluate(self) -> float:
        metric = None
        if self.info.is_main:
            self.model.eval()
            with torch.no_grad(), self.autocast():
                metric = float(self.validate(self.model))
            self.model.train()
        return broadcast_float(metric)

    def _update_early_stopping(self, metric: float, epoch: int) -> None:
        s = self.state
        if not math.isnan(metric) and (s.best_metric is None or metric > s.best_metric):
            s.best_metric, s.best_epoch, s.bad_evals = metric, epoch + 1, 0
            self._save_best()
            return
        s.bad_evals += 1
        patience = self.cfg.early_stopping_patience
        if patience and s.bad_evals >= patience:
            s.stopped_early = True

    def _end_epoch(self, epoch: int, started: float, samples: int) -> None:
        s, cfg = self.state, self.cfg
        self._gather_loss()
        train_loss = broadcast_float(s.loss_sum / max(1, s.loss_count))
        _check_finite(train_loss, f"in epoch {epoch + 1}")
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "global_step": s.global_step,
            "train_loss": train_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            **self._group_lrs(),
            "seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 1) if seconds > 0 else 0.0,
        }
        last = epoch + 1 >= cfg.epochs or self._out_of_steps()
        if self.validate is not None and ((epoch + 1) % cfg.validate_every == 0 or last):
            validate_started = time.perf_counter()
            record[self.metric_name] = self._evaluate()
            record["validate_seconds"] = round(time.perf_counter() - validate_started, 3)
            self._update_early_stopping(record[self.metric_name], epoch)
        record["finished_at"] = time.time()  # wall clock, after validation
        s.history.append(record)
        s.epoch, s.step_in_epoch, s.loss_sum, s.loss_count = epoch + 1, 0, 0.0, 0
        s.done = last or s.stopped_early
        if self.info.is_main:
            log.info("epoch %d: %s", epoch + 1, {k: v for k, v in record.items() if k not in ("epoch", "finished_at")})
            if self.workdir is not None:  # the whole history, so a resumed run's log never repeats an epoch
                from ..artifacts import atomic_write_text

                atomic_write_text(self.workdir / TRAIN_LOG, "".join(json.dumps(r, default=float) + "\n" for r in s.history))
            if self.tensorboard is not None:
                for key, value in record.items():
                    if key not in ("epoch", "global_step", "finished_at") and isinstance(value, (int, float)):
                        self.tensorboard.add_scalar(key, value, global_step=epoch + 1)
                self.tensorboard.flush()
        if self.on_epoch_end is not None:
            self.on_epoch_end(epoch + 1, record)
        self._checkpoint()

    def _group_lrs(self) -> dict[str, Any]:
        """``{"lr_groups": {prefix: lr}}`` when ``optim.groups`` split the parameters."""
        if not self.cfg.optim.groups:
            return {}
        return {"lr_groups": {g["name"]: g["lr"] for g in self.optimizer.param_groups}}

    def _out_of_steps(self) -> bool:
        return self.cfg.max_steps is not None and self.state.global_step >= self.cfg.max_steps

    def _train_step(self, indices: torch.Tensor) -> None:
        rank, world = self.info.rank, self.info.world_size
        local = indices[rank::world]
        batch = _to_device(self.make_batch(local), self.device)
        with self.autocast():
            loss = self.loss_fn(self.train_model, batch)
        loss = loss.float()  # bf16: a float32 loss for backward and the logged mean
        # DDP averages gradients over ranks: weight each shard's mean by its share of the batch
        weighted = loss * (len(local) * world / len(indices)) if world > 1 else loss
        self.optimizer.zero_grad(set_to_none=True)
        weighted.backward()
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self._window_loss += loss.detach() * len(local)
        self._window_n += len(local)

    def _log(self, epoch: int, step: int, meter: Throughput, bar: tqdm) -> None:
        loss = self._flush_loss()
        _check_finite(loss, f"at epoch {epoch + 1}, step {step + 1}")
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4g}", samples_s=f"{meter.rate:.0f}")
        if not self.cfg.progress and self.info.is_main:
            log.info(
                "epoch %d step %d/%d loss %.4g, %.0f samples/s",
                epoch + 1,
                step + 1,
                self.steps_per_epoch,
                loss,
                meter.rate,
            )

    def _run_epoch(self, epoch: int, bar: tqdm) -> None:
        s, cfg, bs = self.state, self.cfg, self.cfg.batch_size
        order = epoch_order(
            self.n_examples, bs, make_generator(self.seed, _PERMUTATION_STREAM, epoch), self.lengths
        )
        self.model.train()
        started, meter = time.perf_counter(), Throughput()
        for step in range(s.step_in_epoch, self.steps_per_epoch):
            indices = order[step * bs : (step + 1) * bs]
            self._train_step(indices)
            s.step_in_epoch, s.global_step = step + 1, s.global_step + 1
            meter.update(len(indices))
            bar.update(1)
            ends_epoch = step + 1 == self.steps_per_epoch or self._out_of_steps()
            if s.global_step % cfg.log_every_steps == 0 or ends_epoch:
                self._log(epoch, step, meter, bar)
            every = cfg.checkpoint_every_steps
            if every and s.global_step % every == 0 and not ends_epoch:
                self._checkpoint()
            if ends_epoch:
                break
        self._end_epoch(epoch, started, meter.total)

    def run(self) -> FitResult:
        s = self.state
        bar = tqdm(
            total=self.total_steps,
            initial=min(s.global_step, self.total_steps),
            disable=not (self.cfg.progress and self.info.is_main),
            unit="step",
            desc="train",
            dynamic_ncols=True,
        )
        try:
            while not s.done and s.epoch < self.cfg.epochs and not self._out_of_steps():
                self._run_epoch(s.epoch, bar)
        finally:
            bar.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
        self._restore_best()
        return FitResult(s.best_metric, s.best_epoch, s.epoch, s.global_step, list(s.history), s.stopped_early)


def fit(
    model: torch.nn.Module,
    *,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    n_examples: int,
    make_batch: Callable[[torch.Tensor], Any],
    cfg: TrainConfig,
    seed: int = 0,
    device: str | torch.device = "auto",
    workdir: Path | str | None = None,
    validate: Callable[[torch.nn.Module], float] | None = None,
    metric_name: str = "recall@10",
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    fingerprint_extra: Any = None,
    lengths: Any = None,
) -> FitResult:
    """Train ``model`` in place and return a :class:`FitResult`.

    - ``make_batch(indices)`` builds a batch (tensor, dict, tuple) from a CPU ``LongTensor``
      of example indices in ``range(n_examples)``; tensors are moved to the device.
    - ``loss_fn(model, batch)`` returns the mean loss over the batch. Under DDP ``model`` is
      the ``DistributedDataParallel`` wrapper: call ``model(...)``, not other methods. With
      ``cfg.precision = "bf16"`` it runs under bfloat16 autocast (backward does not).
    - ``validate(model)`` returns a metric, higher is better; it runs on rank 0 in eval
      mode under ``torch.no_grad()`` (and the same autocast with ``bf16``), every
      ``cfg.validate_every`` epochs and after the last. With ``cfg.early_stopping_patience``
      > 0 training stops after that many evaluations without improvement. The best weights
      are restored at the end (and saved as ``workdir/best.safetensors``).
    - Each epoch appends a record to ``FitResult.history``: ``epoch``, ``global_step``,
      ``train_loss``, ``lr``, ``seconds``, ``samples_per_s``, ``finished_at`` (``time.time()``
      after validation) and, when validated, the metric and ``validate_seconds``.
    - ``workdir``: ``workdir/train_log.jsonl`` holds the history (rewritten after every
      epoch, for curves and ``sidkit report``); checkpoints go to ``workdir/checkpoints`` every
      ``cfg.checkpoint_every_steps`` steps and at epoch ends; an existing checkpoint is
      resumed when it was written with the same config, ``seed``, ``n_examples``, number of
      processes and ``fingerprint_extra`` (JSON data, e.g. the model config), otherwise
      :class:`ArtifactError` is raised.
    - ``lengths`` (optional, one per example): with ``cfg.group_by_length`` each batch holds
      examples of similar length (:func:`sidkit.training.batching.epoch_order`); the order
      still depends only on ``seed`` and the epoch.
    - ``on_epoch_end(epoch, record)`` is called on every rank with the epoch's history record.

    The global RNGs (Python, numpy, torch) are seeded from ``seed`` and the rank; the batch
    order depends only on ``seed`` and the epoch. Under ``torchrun`` the process group is
    joined (gloo on CPU, nccl on CUDA) if it is not yet; call :func:`sidkit.training.cleanup`
    when done.
    """
    trainer = _Trainer(
        model,
        loss_fn=loss_fn,
        n_examples=n_examples,
        make_batch=make_batch,
        cfg=cfg,
        seed=seed,
        device=device,
        workdir=workdir,
        validate=validate,
        metric_name=metric_name,
        on_epoch_end=on_epoch_end,
        fingerprint_extra=fingerprint_extra,
        lengths=lengths,
    )
    return trainer.run()
