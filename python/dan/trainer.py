"""Training: mini-batch SGD on source labels plus lambda * the method's penalty on the source and
target features (methods/: DAN's MK-MMD over the adapted layers, and the others). The trainer
calls only the Penalty interface (methods/penalty.py).

Paper conventions: SGD with momentum, learning rate annealed as lr0 (1 + 10 p)^-0.75 with p the
training progress, new layers at 10x, lambda ramped from 0 by 2 / (1 + exp(-10 p)) - 1 (optional).
Every epoch: target accuracy (target labels only for reporting; none for an unlabelled target)
and source accuracy, the method's own columns (DAN's: the mean MMD per layer and more), images
skipped as unreadable, a CSV and JSON log, and a checkpoint written atomically; --resume continues bit for
bit. Digit domains are indexed in memory; image folders stream through DataLoader workers
(epoch_data.py). Under torchrun (WORLD_SIZE > 1) each rank takes an equal slice of every global
batch, gradients are averaged (DDP, gloo on CPU), and the penalty reduces its own statistics over
ranks, so the run equals the single-process run on the same global batches (BatchNorm layers on
CPU ranks aside: distributed.batchnorm_mode). A batch is skipped on every rank or on none
(distributed.agree).

What a run writes is written atomically (atomic.py), checkpoint first and logs after, so the logs
are never ahead of the checkpoint; the checkpoint records the data's identity (data_identity.py)
and --resume on other data is refused.
"""
from __future__ import annotations

import json
import math
import random
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from dan.data import identity as data_identity
from dan.data import epoch_plan as epoch_data
from dan.runs.atomic import atomic_write_text
from dan.runs.checkpoint import CHECKPOINT, atomic_save, load_checkpoint, to_plain
from dan.config import CheckedConfig, TrainConfig, check, config_differences
from dan.data.domains import check_compatible, load_domain
from dan.data.image_folder import class_name
from dan.distributed import CollectiveFailed, agree, all_mean, all_sum, batchnorm_mode, init_distributed
from dan.methods import get_method
from dan.models.freezing import Freezer, frozen_stages
from dan.models.networks import BACKBONES, build_model, check_input_shape
from dan.runs.folder import RunFolder
from dan.runs.log import write_logs


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN, infinite or too large to learn, or the source accuracy
    fell back to chance: nothing after that would mean anything."""


# Weights beyond this magnitude have stopped learning: float32 keeps 24 bits, so an SGD update
# smaller than |w| x 6e-8 (6 at 1e8) rounds away. The loss, checked before each step, does not
# show it: the last steps' updates come after their check (JAN at --lam 1e12, two steps: weights
# of 7e9 after a finite loss, chance accuracy, exit 0).
MAX_WEIGHT = 1e8


class NothingTrained(RuntimeError):
    """An epoch ended without a single SGD step (every batch lost its images to decoding errors)."""


class Trainer:
    """One training run in memory: the data, the network, the method's penalty, the optimizer and
    the schedules of a configuration, ready to ``fit()`` (or to ``resume()`` a checkpoint first).

    ``cfg``: a CheckedConfig (what train() passes: checked once, taken as it is) or a TrainConfig
    (checked here). ``source``/``target``: Domains already loaded, else loaded by the names in
    ``cfg``. train() adds the run folder's rules around it (a new, resumed or replaced run); use
    the Trainer directly only to drive a run in a folder you manage yourself."""

    def __init__(self, cfg: Union[TrainConfig, CheckedConfig], source=None, target=None, progress: bool = True):
        # train() hands over the configuration it checked; a TrainConfig built by hand is checked here
        cfg = check(cfg, source is None, target is None).config
        self.cfg = cfg
        self.info = init_distributed(cfg.dist_timeout)
        self.method = get_method(cfg.method)
        self.source = source if source is not None else load_domain(
            cfg.source, cfg.cache_dir, cfg.image_size, cfg.workers, labelled=True)
        self.target = target if target is not None else load_domain(
            cfg.target, cfg.cache_dir, cfg.image_size, cfg.workers)
        check_compatible(self.source, self.target)
        check_input_shape(cfg.backbone, self.source)
        self.data = {"source": data_identity.identity(self.source), "target": data_identity.identity(self.target)}
        self.device = torch.device(cfg.device)
        self.progress = progress and self.info.rank == 0
        self.out = Path(cfg.out)

        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
        weights = None if cfg.weights == "none" else cfg.weights
        self.model = build_model(cfg.backbone, len(self.source.classes), weights, cfg.dropout).to(self.device)
        self.batchnorm = batchnorm_mode(self.model, self.device, self.info)
        if self.batchnorm == "sync":  # same parameter and buffer names: checkpoints load either way
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        elif self.batchnorm == "per-rank" and self.info.rank == 0:
            print(f"dan: note: {cfg.backbone} has BatchNorm layers, which on the CPU normalise over each rank's "
                  "slice of the batch (SyncBatchNorm needs CUDA): this run matches a single-process run in "
                  "distribution, not number for number", flush=True)
        # what the method adds to the cross-entropy, on the adapted layers it names (methods/)
        self.penalty = self.method.build(cfg, self.model).to(self.device)
        unknown = [k for k in self.penalty.layers if k not in self.model.adapted]
        if unknown:  # a plug-in's mistake, named now rather than as a KeyError at the first step
            raise ValueError(f"method {cfg.method} asks for layer(s) {', '.join(unknown)}, but the {cfg.backbone} "
                             f"network adapts {', '.join(self.model.adapted)}")
        self.net, self.penalty_net = self.model, self.penalty
        if self.info.active:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
            if any(p.requires_grad for p in self.penalty.parameters()):  # a discriminator's gradients
                self.penalty_net = torch.nn.parallel.DistributedDataParallel(self.penalty)
        groups = self.model.param_groups(cfg.lr) + self.penalty.param_groups(cfg.lr)
        self.opt = torch.optim.SGD([g for g in groups if g["params"]], lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        # --freeze / --unfreeze-every, applied per epoch (_freeze); made after the optimizer, whose
        # groups then hold every parameter the builder left trainable, frozen or not, so they are the
        # same at every epoch and a checkpoint's optimizer state loads (models/freezing.py)
        self.freezer = Freezer(self.model, BACKBONES[cfg.backbone])
        self.sampler = torch.Generator().manual_seed(cfg.seed + 12345)
        self.epoch = 0
        self.step = 0
        self.history: List[dict] = []
        self.steps_per_epoch = cfg.iters_per_epoch or max(1, len(self.source) // cfg.batch_size)
        # Source accuracy on the sample the source names (an image folder's: a fixed 1,000 images).
        self.source_eval = self.source.accuracy_sample(cfg.seed)

    # ---- one step -------------------------------------------------------------------------
    def _progress(self) -> float:
        return self.step / max(1, self.cfg.epochs * self.steps_per_epoch)

    def _lambda(self, p: float) -> float:
        if not self.penalty.layers:  # nothing to weigh (source only): logged as 0
            return 0.0
        ramp = self.cfg.lam_ramp and not self.penalty.ramps_itself  # DANN ramps its reversed gradient instead
        return self.cfg.lam * (2.0 / (1.0 + math.exp(-10 * p)) - 1.0 if ramp else 1.0)

    def step_on(self, xs, ys, xt) -> Dict[str, float]:
        """One SGD step on this rank's source batch (xs, ys) and target batch xt."""
        cfg, info = self.cfg, self.info
        xs, ys, xt = xs.to(self.device), ys.to(self.device), xt.to(self.device)
        ns = len(xs)
        p = self._progress()
        for g in self.opt.param_groups:
            g["lr"] = cfg.lr * g["lr_mult"] * (1 + 10 * p) ** -0.75
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cfg.amp):
            logits, feats = self.net(torch.cat([xs, xt]))
        ce = F.cross_entropy(logits[:ns].float(), ys)
        lam = self._lambda(p)
        layers = self.penalty.layers
        penalty = self.penalty_net({k: feats[k][:ns] for k in layers}, {k: feats[k][ns:] for k in layers}, p)
        loss = ce + lam * penalty
        if not agree(bool(torch.isfinite(loss.detach())), info):  # every rank stops, not one alone
            raise TrainingDiverged(
                f"training diverged at epoch {self.epoch + 1}, step {self.step + 1}: the loss is "
                f"{float(loss.detach())} (cross-entropy {float(ce.detach())}); lower --lr (now {cfg.lr}) or --lam (now {cfg.lam})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        self.penalty.after_step(self.step)  # the network is fixed between this and the next SGD step
        return {"ce": float(all_mean(ce.detach().double(), info)), "lambda": lam, **self.penalty.step_log()}

    # ---- epochs, logs, checkpoints ------------------------------------------------------------
    def fit(self, stop_after_epoch: Optional[int] = None) -> dict:
        """Train to cfg.epochs (or stop after ``stop_after_epoch``, as an interruption would:
        the checkpoint of that epoch is on disk and --resume continues from it)."""
        cfg = self.cfg
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs * self.steps_per_epoch, initial=self.epoch * self.steps_per_epoch,
                       desc=f"{cfg.method} {cfg.source}->{cfg.target}", unit="step", leave=False)
        start = time.time()
        if self.info.rank == 0 and not self.target.labelled:
            print(f"dan: target {self.target.name} has no class folders: training on it unlabelled; "
                  "target accuracy is not reported (use dan predict for its predictions)", flush=True)
        try:
            while self.epoch < cfg.epochs:
                self._epoch(bar)
                if stop_after_epoch is not None and self.epoch >= stop_after_epoch:
                    break
        except RuntimeError as err:
            # a collective's failure: torch's DistError, or gloo's error raised through DDP's backward
            # (a plain RuntimeError whose text is gloo's); any other error (out of memory, a bug) keeps
            # its own message
            if not (self.info.active and (isinstance(err, dist.DistError) or "gloo" in str(err))):
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CollectiveFailed(
                f"rank {self.info.rank}: a collective failed, so the job stops (a peer died, or waited longer than "
                f"--dist-timeout {cfg.dist_timeout:g} s): {first}") from err
        if bar is not None:
            bar.close()
        result = self.result(time.time() - start)
        if self.info.rank == 0:
            atomic_write_text(self.out / "result.json", json.dumps(result, indent=2))
        return result

    def _epoch(self, bar) -> None:
        """One epoch: its steps, the checks that it trained and did not diverge, its log row, and
        on rank 0 the evaluation, the checkpoint and the logs."""
        frozen = self._freeze()
        self.penalty.start_epoch()
        sums, steps, skipped = self._steps(bar)
        self.epoch += 1
        self._check_weights()
        n_skipped = all_sum(len(skipped), self.info)
        if steps == 0:
            raise NothingTrained(
                f"epoch {self.epoch} trained no step: every one of its {self.steps_per_epoch} batches lost too many "
                f"images that could not be decoded ({n_skipped} skipped, e.g. {skipped[0] if skipped else '?'}); "
                f"check --source {self.cfg.source} and --target {self.cfg.target}")
        row = self._row(sums, steps, n_skipped, skipped)
        if self.cfg.freeze is not None or self.cfg.unfreeze_every is not None:
            row["frozen_up_to"] = frozen[-1] if frozen else "none"  # the top stage frozen in this epoch
        if self.info.rank == 0:
            self._evaluate(row)
            self._check_accuracy(row["source_accuracy"])
            row.update(self.penalty.epoch_columns())
            self.history.append(row)
            # checkpoint first: if the logs then fail to write, they are behind the checkpoint, and
            # a resume rewrites them whole from its history
            self.save(self.out / CHECKPOINT)
            write_logs(self.out, self.history)
            self._show(bar, row)
        else:
            self.history.append(row)
        if self.info.active:
            dist.barrier()

    def _freeze(self) -> tuple:
        """Freeze this epoch's stages: a function of the epochs done and the settings only, so a
        resumed run freezes what the run straight through froze."""
        cfg = self.cfg
        stages = frozen_stages(self.freezer.spec, cfg.freeze, cfg.unfreeze_every, self.epoch)
        if self.freezer.set(stages) and self.info.active:
            # DDP reduces the gradients of the parameters that required them when it was made
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        return stages

    def _steps(self, bar):
        """The epoch's optimiser steps: (sums of the step logs, steps made, images skipped here)."""
        cfg, info = self.cfg, self.info
        sums: Dict[str, float] = {}
        skipped: List[str] = []
        steps = 0
        plan = epoch_data.EpochPlan(self.sampler, len(self.source), len(self.target), cfg.batch_size,
                                    self.steps_per_epoch, seeds=epoch_data.needs_seeds(self.source, self.target))
        for b in epoch_data.epoch(self.source, self.target, plan, info.rank, info.world):
            skipped += b.skipped
            # every rank steps, or none does: a rank that skipped alone would leave the others
            # waiting in the step's collectives forever
            if agree(b.xs is not None, info):
                for k, v in self.step_on(b.xs, b.ys, b.xt).items():
                    sums[k] = sums.get(k, 0.0) + v
                steps += 1
            if bar is not None:
                bar.update(1)
        return sums, steps, skipped

    def _row(self, sums: Dict[str, float], steps: int, n_skipped: int, skipped: List[str]) -> dict:
        """The epoch's log row: the step logs' means and what was skipped (warned once, by rank 0)."""
        row = {"epoch": self.epoch, "step": self.step, **{k: v / steps for k, v in sums.items()}}
        if n_skipped:
            row["skipped_images"] = n_skipped
            if self.info.rank == 0:  # one warning for the job, the count over every rank
                warnings.warn(f"epoch {self.epoch}: skipped {n_skipped} unreadable image(s)"
                              f"{', e.g. ' + skipped[0] if skipped else ''}", RuntimeWarning)
        if steps < self.steps_per_epoch:
            row["skipped_steps"] = self.steps_per_epoch - steps
        return row

    def _evaluate(self, row: dict) -> None:
        """Rank 0: target and source accuracy into ``row``, with what evaluation had to skip."""
        target = epoch_data.accuracy(self.model, self.target, self.device, amp=self.cfg.amp)
        source = epoch_data.accuracy(self.model, self.source, self.device, self.source_eval, amp=self.cfg.amp)
        row["target_accuracy"], row["source_accuracy"] = target.value, source.value
        if target.skipped or source.skipped:
            row["skipped_eval_images"] = target.skipped + source.skipped
            warnings.warn(f"epoch {self.epoch}: evaluation skipped {target.skipped} target and {source.skipped} "
                          f"source image(s) that could not be decoded; target accuracy is over "
                          f"{target.evaluated} of {len(self.target)} images", RuntimeWarning)
        row["target_evaluated"], row["source_evaluated"] = target.evaluated, source.evaluated

    @staticmethod
    def _show(bar, row: dict) -> None:
        if bar is None:
            return
        shown = {"source": f"{row['source_accuracy']:.3f}" if row["source_accuracy"] is not None else "n/a"}
        if row["target_accuracy"] is not None:
            shown["target"] = f"{row['target_accuracy']:.3f}"
        bar.set_postfix(**shown)

    def _check_weights(self) -> None:
        """Refuse to go on (or to write this epoch's checkpoint) once a weight is non-finite or
        beyond MAX_WEIGHT; decided on every rank alike."""
        params = [p.detach() for p in (*self.model.parameters(), *self.penalty.parameters())]
        largest = max((float(p.abs().max()) for p in params if p.numel()), default=0.0)
        finite = all(bool(torch.isfinite(p).all()) for p in params)
        if not agree(finite and largest <= MAX_WEIGHT, self.info):
            raise TrainingDiverged(
                f"training diverged in epoch {self.epoch}: the largest weight is {largest:.3g} (at most {MAX_WEIGHT:g} "
                f"can still learn in float32); lower --lam (now {self.cfg.lam:g}) or --lr (now {self.cfg.lr:g})")

    def _check_accuracy(self, source: Optional[float]) -> None:
        """A source accuracy back at chance (what predicting the most common class scores on the
        images it is measured on) after an epoch at twice that or more means the penalty or the step
        size has undone the classifier: not a result."""
        labels = self.source.labels()
        if self.source_eval is not None:
            labels = labels[self.source_eval]
        chance = float(torch.bincount(labels).max()) / max(1, len(labels))
        best = max((r["source_accuracy"] for r in self.history if r.get("source_accuracy") is not None), default=0.0)
        if source is not None and best >= 2 * chance and source <= chance:
            raise TrainingDiverged(
                f"training collapsed in epoch {self.epoch}: source accuracy fell from {best:.3f} to {source:.3f}, what "
                f"predicting one class scores; lower --lam (now {self.cfg.lam:g}) or --lr (now {self.cfg.lr:g})")

    def result(self, seconds: float) -> dict:
        """What result.json holds: the last epoch's accuracies and what they were over, the run's
        settings, the method's own columns, and ``seconds`` of training."""
        last = self.history[-1] if self.history else {}
        return {
            "target_accuracy": last.get("target_accuracy"),
            "source_accuracy": last.get("source_accuracy"),
            # what the accuracies are over: images scored, of how many (undecodable ones are skipped)
            "target_evaluated": last.get("target_evaluated"), "target_images": len(self.target),
            "source_evaluated": last.get("source_evaluated"),
            "source_images": len(self.source_eval) if self.source_eval is not None else len(self.source),
            "method": self.cfg.method, "source": self.cfg.source, "target": self.cfg.target,
            "seed": self.cfg.seed, "epochs": self.epoch, "steps": self.step,
            **self.penalty.result_columns(last),
            "world_size": self.info.world, "batchnorm": self.batchnorm, "seconds": round(seconds, 2), "config": self.cfg.to_dict(),
        }

    def state_dict(self) -> dict:
        """The checkpoint: settings, progress, weights, optimizer, the method's state, every random
        generator and the data's identity, as plain data (it loads with weights_only=True)."""
        return {
            "config": self.cfg.to_dict(), "epoch": self.epoch, "step": self.step, "history": self.history,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "penalty": self.penalty.state_dict(),  # the method's own state
            # Plain data only (tensors, numbers, strings, lists, tuples, dicts): checkpoints load with
            # weights_only=True, so the numpy generator state goes in as a tensor.
            "rng": {"torch": torch.get_rng_state(), "numpy": to_plain(np.random.get_state()),
                    "python": random.getstate(), "sampler": self.sampler.get_state()},
            "classes": list(self.source.classes),
            "data": self.data,  # what the run trained on: --resume refuses other data
        }

    def save(self, path: Path) -> None:
        """Write the checkpoint to ``path`` atomically (the old file stays whole until the new one is)."""
        atomic_save(self.state_dict(), path)

    def resume(self, path: Path) -> None:
        """Continue from the checkpoint at ``path``: refused when it is from other settings or other
        data; restores weights, optimizer, the method's state, the generators and the history."""
        ck = load_checkpoint(path)
        theirs = ck["config"]
        diff = config_differences(theirs, self.cfg)
        if diff:
            raise ValueError(f"checkpoint {path} is from a different run; differing settings (checkpoint, now): {diff}")
        changed = data_identity.difference(ck.get("data"), self.data)
        if changed:
            raise ValueError(f"--resume: {changed}; the run in {path.parent} cannot continue on other data "
                             "(restore the data, or start a new run with another --out or --overwrite)")
        if [class_name(c) for c in ck["classes"]] != list(self.source.classes):  # NFC, as folders are read
            raise ValueError(f"--resume: the checkpoint's classes ({', '.join(ck['classes'][:6])}) are not the "
                             f"source's ({', '.join(self.source.classes[:6])}); the run cannot continue on them")
        if ck["epoch"] > self.cfg.epochs:
            raise ValueError(f"--epochs {self.cfg.epochs}: the run in {path.parent} has already done {ck['epoch']} "
                             f"epochs; pass --epochs {ck['epoch']} or more to resume it")
        try:  # a checkpoint is untrusted input: whatever in it does not fit is one line naming the file
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.penalty.load_state_dict(ck["penalty"])
            torch.set_rng_state(ck["rng"]["torch"])
            name, keys, pos, has_gauss, cached = ck["rng"]["numpy"]
            np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
            random.setstate(ck["rng"]["python"])
            self.sampler.set_state(ck["rng"]["sampler"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as err:
            what = f"no {err}" if isinstance(err, KeyError) else " ".join(str(err).split())[:200]
            raise ValueError(f"checkpoint {path}: cannot restore the run's training state ({what})") from None
        self.epoch, self.step, self.history = ck["epoch"], ck["step"], ck["history"]


def train(cfg: Union[TrainConfig, CheckedConfig], resume: bool = False, progress: bool = True, source=None, target=None,
          stop_after_epoch: Optional[int] = None, overwrite: bool = False, mode: Optional[str] = None) -> dict:
    """Train into the run folder cfg.out and return the result dict.

    The folder rules (run_folder.py): a folder that holds a run is continued only with ``resume``
    (from OUT/checkpoint.pt) and replaced only with ``overwrite``; ``mode="continue"`` resumes when
    a checkpoint exists and starts fresh otherwise (dan ablate, dan plot). The learning-rate and
    lambda schedules depend on cfg.epochs: resuming with a larger --epochs extends the run but
    changes its schedule from that point on."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue the run, or replace it")
    mode = mode or ("resume" if resume else "overwrite" if overwrite else "new")
    run = check(cfg, source is None, target is None)  # the one check; the Trainer takes it as it is
    cfg = run.config
    info = init_distributed(cfg.dist_timeout)
    with RunFolder(cfg.out, mode, lock=info.rank == 0) as folder:
        # everything is checked (data found, classes compared, network built, checkpoint matched)
        # before accept() lets --overwrite delete the old run
        trainer = Trainer(run, source, target, progress=progress)
        if folder.resuming:
            trainer.resume(Path(cfg.out) / CHECKPOINT)
        folder.accept()
        return trainer.fit(stop_after_epoch)
