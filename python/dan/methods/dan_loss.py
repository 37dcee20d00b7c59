"""DAN's penalty as a module for any training loop: the sum over adapted layers of the linear-time
multi-kernel MMD^2 (Long et al. 2015, Eq. 6 and 8), each layer with its own kernel weights beta.

    dan_loss = DANLoss(layers=("bottleneck", "logits"))          # 5 kernels, learned beta
    ...
    penalty = dan_loss(source_features, target_features)        # dicts {layer: [n, d]} or tensors
    loss = cross_entropy + lam * penalty
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    dan_loss.step()                                             # re-solves beta every beta_every steps

What it owns:
- the bandwidths: ``kernel_num`` Gaussian kernels at gbar * kernel_mul^(k - m//2), gbar the mean
  squared distance over the quad-tuples' pairs (detached). Under DDP (a process group of more than
  one rank) gbar is all-reduced, so every rank uses the global batch's bandwidths.
- beta per layer (``betas``): "learned" accumulates the op's per-kernel estimates d and their
  covariance Q over ``beta_every`` steps (averaged over ranks), then solves DAN's QP
  (dan_ext.solve_beta_qp; an infeasible problem keeps the previous beta; a batch too small for Q,
  fewer rows per domain than dan_ext.estimators.min_rows_for_variance, keeps it too and warns
  once); "uniform" keeps 1/m;
  a list of m non-negative weights fixes them (normalised to sum 1).
- its state (every layer's beta, the accumulated d and Q, the step count, and the settings the
  state belongs to): ``state_dict()`` / ``load_state_dict()``, plain tensors and numbers (safe
  under ``torch.load(weights_only=True)``); a state of other settings (learned beta into a
  uniform one, another kernel count), with betas off the simplex (or other than the uniform or
  fixed ones), or with a key missing or of the wrong kind is refused, and nothing is replaced.

Training and evaluation: only a call in training mode with gradients enabled is a training step.
It reduces over ranks and feeds d and Q to beta. A call under ``.eval()`` or ``torch.no_grad()``
(a validation pass, on one rank or all) touches neither: it uses this rank's own bandwidths and
leaves beta alone.

The contract under DDP (a process group of more than one rank): every rank makes every training
call, with its slice of the same global batch, all slices the same size. Unequal slices are
refused on every rank in one line naming each rank's rows, and so are features of different
widths on different ranks (both checked within the bandwidths' all-reduce, no extra
collective). A training call that some rank never makes cannot be told from a slow rank: the
ranks that made it wait for the process group's timeout (init_process_group's ``timeout``;
``dan train --dist-timeout``), then raise dan.distributed.CollectiveFailed naming this contract.

The estimator is dan_ext.mkmmd's ``estimator``: by default "linear", the paper's disjoint
quad-tuples, n/2 terms for n rows per domain (n must be even and the same on every rank); the
others ("shifted", "block", "unbiased", "biased") give beta's QP d and Q from more pairs. This
module is the one behind ``dan train``'s source_only, ddc, dan7, dan8, dan_sk, dan, dan_uniform and
--fixed-betas (methods/mkmmd.py).
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch

import dan_ext
from dan_ext import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM
from dan_ext._checks import betas_allowed
from dan_ext.estimators import check_estimator, min_rows_for_variance

from dan.methods.beta_solver import SIMPLEX_TOL, BetaSolver
from dan.distributed import DistInfo, all_mean, all_reduce, process_group
from dan.methods.penalty import Penalty

Features = Union[torch.Tensor, Sequence[torch.Tensor], Mapping[str, torch.Tensor]]


class DANLoss(Penalty):
    def __init__(self, layers: Union[int, Sequence[str]] = 1, kernel_num: int = DEFAULT_KERNEL_NUM,
                 kernel_mul: float = DEFAULT_KERNEL_MUL, betas: Union[str, Sequence[float]] = "learned",
                 beta_every: int = 10, beta_eps: float = 1e-3, estimator: str = "linear",
                 block_size: Optional[int] = None):
        """``layers``: the names of the adapted layers (forward takes dicts with these keys), or
        their number (forward takes a tensor, or a list of tensors in that order). ``estimator``
        and ``block_size``: which MK-MMD estimator (dan_ext.mkmmd; "linear" is the paper's)."""
        super().__init__()
        if isinstance(layers, int) and not isinstance(layers, bool):
            if layers < 0:
                raise ValueError(f"layers must be a number >= 0 or a list of layer names, got {layers}")
            names, self._named = tuple(str(i) for i in range(layers)), False
        elif isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
            names, self._named = tuple(dict.fromkeys(layers)), True
            if len(names) != len(layers):
                raise ValueError(f"layers must be distinct names, got {list(layers)}")
        else:
            raise ValueError(f"layers must be a number or a list of layer names, got {layers!r}")
        dan_ext.check_kernel_args(None, None, kernel_num, kernel_mul)
        self.estimator, self.block_size = check_estimator(estimator, block_size)
        # the fewest rows per domain a batch needs for Q: fixed by the settings, read on every training call
        self._min_rows = min_rows_for_variance(self.estimator, self.block_size)
        if isinstance(beta_every, bool) or not isinstance(beta_every, int) or beta_every < 1:
            raise ValueError(f"beta_every must be an integer >= 1, got {beta_every!r}")
        if isinstance(beta_eps, bool) or not (isinstance(beta_eps, (int, float)) and math.isfinite(beta_eps)
                                              and beta_eps > 0):
            raise ValueError(f"beta_eps must be a finite number > 0, got {beta_eps!r}")
        fixed = None
        if isinstance(betas, str):
            if betas not in ("learned", "uniform"):
                raise ValueError(f"betas must be 'learned', 'uniform' or {kernel_num} weights, got {betas!r}")
        else:
            fixed = normalised_weights(betas, kernel_num)
        self.layers = names
        self.kernel_num, self.kernel_mul = int(kernel_num), float(kernel_mul)
        self.mode = "fixed" if fixed is not None else betas
        self.beta_every, self.learn = beta_every, self.mode == "learned" and kernel_num > 1
        self._fixed = fixed
        self.solvers: Dict[str, BetaSolver] = {name: BetaSolver(self.kernel_num, beta_eps) for name in names}
        if fixed is not None:
            for solver in self.solvers.values():
                solver.fix(fixed, self._fixed_by)
        self.steps = 0
        self._warned_rows = False  # warned of a batch too small for the variance Q (once per DANLoss)
        # every beta update of the current epoch, [step, beta_1..beta_m] per layer (the trainer's
        # epoch row keeps them: per-epoch betas alone hide how often beta jumps)
        self.trace: Dict[str, List[list]] = {name: [] for name in names}

    _fixed_by = "betas argument"  # what the status of fixed weights names (the trainer's: --fixed-betas)

    @property
    def betas(self) -> Dict[str, List[float]]:
        """Each layer's current kernel weights, narrowest bandwidth first."""
        return {k: s.betas.tolist() for k, s in self.solvers.items()}

    # ---- the penalty ------------------------------------------------------------------------
    def _pairs(self, source: Features, target: Features):
        for name, features in (("source", source), ("target", target)):
            _check_features(features, name)
        if isinstance(source, Mapping) != isinstance(target, Mapping):
            raise ValueError("source and target features must both be dicts, or both tensors / lists")
        if isinstance(source, Mapping):
            if not self._named:
                k = len(self.layers)
                raise ValueError(f"DANLoss(layers={k}) takes a tensor or a list of {k} tensor(s), got dicts: for "
                                 "dicts of features give the layers' names, DANLoss(layers=(name, ...))")
            missing = [n for n in self.layers if n not in source or n not in target]
            if missing:
                raise ValueError(f"DANLoss(layers={list(self.layers)}): the feature dicts lack layer(s) "
                                 f"{', '.join(missing)}")
            return [(source[n], target[n]) for n in self.layers]
        if isinstance(source, torch.Tensor):
            source, target = [source], [target]
        if len(source) != len(self.layers) or len(target) != len(self.layers):
            raise ValueError(f"expected features of {len(self.layers)} layer(s), got {len(source)} source and "
                             f"{len(target)} target tensors")
        return list(zip(source, target))

    def forward(self, source: Features, target: Features, progress: Optional[float] = None) -> torch.Tensor:
        """The sum over layers of MK-MMD^2 (float32 scalar). ``progress`` is not used (DAN's
        lambda schedule is the caller's)."""
        pairs = self._pairs(source, target)
        training = self.training and torch.is_grad_enabled()
        info = process_group() if training else DistInfo()  # evaluation: no collective, this rank alone
        total = pairs[0][0].new_zeros((), dtype=torch.float32) if pairs else self._zero.clone()
        self._log = {}
        for name, (fs, ft) in zip(self.layers, pairs):
            solver = self.solvers[name]
            bandwidths = global_bandwidths(fs, ft, self.kernel_num, self.kernel_mul, info, self.estimator,
                                           self.block_size)
            st = dan_ext.mkmmd_stats(fs, ft, bandwidths, solver.tensor(), estimator=self.estimator,
                                     block_size=self.block_size, kernel_num=self.kernel_num,
                                     kernel_mul=self.kernel_mul, covariance=self.learn)
            total = total + st.loss.float()
            self._log[f"mmd_{name}"] = float(all_mean(st.loss.detach().double(), info, RANK_CONTRACT))
            if self.learn and training:
                self._check_variance_rows(fs, ft)
                solver.accumulate(all_mean(st.per_kernel, info, RANK_CONTRACT),
                                  all_mean(st.covariance, info, RANK_CONTRACT))
        return total

    def _check_variance_rows(self, fs: torch.Tensor, ft: torch.Tensor) -> None:
        """Learned beta is solved from the variance Q of the estimate; a batch too small for Q
        (NaN) makes the solve of its beta_every window keep the previous beta, which only
        last_status would tell: warn once, naming the minimum."""
        n = min(fs.shape[0], ft.shape[0])
        if self._warned_rows or n >= self._min_rows:
            return
        self._warned_rows = True
        block = f", block_size={self.block_size}" if self.block_size is not None else ""
        warnings.warn(f"DANLoss(estimator={self.estimator!r}{block}) learns beta from the variance of the estimate, "
                      f"which needs at least {self._min_rows} rows per "
                      f"domain in a batch (per rank under DDP), got {n}: beta keeps its previous value for every "
                      f"beta_every window with such a batch", RuntimeWarning, stacklevel=3)

    def step(self, step: Optional[int] = None) -> None:
        """Call after each optimiser step: every ``beta_every`` steps, learned betas are solved
        from the d and Q accumulated since the last solve (the network is fixed until the next
        step). ``step``: the number of the optimiser step just made, if you count steps yourself;
        steps count from 1 (0 is the state before the first step, when there is nothing to solve),
        so it must be an integer >= 1."""
        if step is not None:
            step = _step_number(step)
        self.steps = self.steps + 1 if step is None else step
        if self.learn and self.steps % self.beta_every == 0:
            for name, solver in self.solvers.items():
                tried = solver.solves + solver.fallbacks
                solver.solve()
                if solver.solves + solver.fallbacks > tried:  # something was accumulated and solved
                    self.trace[name].append([self.steps] + solver.betas.round(4).tolist())

    # ---- the trainer's seam -----------------------------------------------------------------
    def after_step(self, step: int) -> None:
        self.step(step)

    def start_epoch(self) -> None:
        self.trace = {name: [] for name in self.layers}

    def epoch_columns(self) -> Dict[str, object]:
        row: Dict[str, object] = {f"beta_{k}": s.betas.round(4).tolist() for k, s in self.solvers.items()}
        if self.learn:
            row.update({f"beta_trace_{k}": v for k, v in self.trace.items()})
        return row

    def result_columns(self, last_row) -> Dict[str, object]:
        return {"betas": {k: s.betas.tolist() for k, s in self.solvers.items()},
                "beta_status": {k: s.last_status for k, s in self.solvers.items()},
                "final_mmd": {k[4:]: v for k, v in last_row.items() if k.startswith("mmd_")}}

    # ---- state ------------------------------------------------------------------------------
    def _settings(self) -> dict:
        """What a state belongs to: loading it into a DANLoss of other settings would silently
        replace uniform or fixed betas by learned ones, or mix kernel ladders."""
        return {"betas": self.mode, "fixed": self._fixed, "kernel_num": self.kernel_num,
                "kernel_mul": self.kernel_mul, "estimator": self.estimator, "block_size": self.block_size}

    def get_extra_state(self) -> dict:
        """The beta solvers' states, the step count and the settings, as plain data (saved by
        ``state_dict()``; loads under ``torch.load(weights_only=True)``)."""
        return {"solvers": {k: s.state_dict() for k, s in self.solvers.items()}, "steps": self.steps,
                "settings": self._settings()}

    def set_extra_state(self, state) -> None:
        """Restore what :meth:`get_extra_state` saved, after checking all of it (layers, settings,
        shapes, betas on the simplex, integer counts); a state of other settings is refused."""
        if not isinstance(state, dict) or not isinstance(state.get("solvers"), dict):
            raise ValueError("DANLoss state must be a dict with the beta solvers' states")
        if set(state["solvers"]) != set(self.solvers):
            raise ValueError(f"DANLoss state is for layers {sorted(state['solvers'])}, this one has "
                             f"{sorted(self.solvers)}")
        theirs = state.get("settings")  # absent in checkpoints from before the seam (the trainer
        if theirs is not None:          # compares the run's settings itself)
            mine = self._settings()
            theirs = {**_SETTINGS_BEFORE_ESTIMATORS, **theirs}  # states from before the estimators
            diff = [f"{k} {theirs.get(k)!r} (this one: {v!r})" for k, v in mine.items() if theirs.get(k) != v]
            if diff:
                raise ValueError(f"DANLoss state is of other settings: {'; '.join(diff)}")
        steps = state.get("steps", 0)  # absent in checkpoints from before the seam: the trainer passes steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:  # numpy ints too, as step()
            raise ValueError(f"DANLoss state 'steps' must be an integer >= 0, got {steps!r}")
        steps = int(steps)
        before = {k: s.state_dict() for k, s in self.solvers.items()}
        try:  # all layers or none: a refusal leaves this DANLoss as it was
            for k, s in self.solvers.items():
                s.load_state_dict(state["solvers"][k])
                self._check_kept_betas(k, s.betas)
        except ValueError as err:
            for k, s in self.solvers.items():
                s.load_state_dict(before[k])
            raise ValueError(f"DANLoss state of layer {k!r}: {err}") from None
        self.steps = steps

    def _check_kept_betas(self, layer: str, betas) -> None:
        """Uniform and fixed weights never change: a state holding others is not this DANLoss's."""
        if self.learn:
            return
        want = self._fixed if self._fixed is not None else [1.0 / self.kernel_num] * self.kernel_num
        if not all(abs(a - b) <= SIMPLEX_TOL for a, b in zip(betas.tolist(), want)):
            raise ValueError(f"betas {betas.tolist()} are not this DANLoss's {self.mode} weights {want}")


def _check_features(features, name: str) -> None:
    """Features are torch tensors, or dicts / lists / tuples of them: anything else (a numpy array,
    which len() and indexing would otherwise take apart row by row) is named in one line."""
    values = (list(features.values()) if isinstance(features, Mapping)
              else list(features) if isinstance(features, (list, tuple)) else [features])
    wrong = next((v for v in values if not isinstance(v, torch.Tensor)), None)
    if wrong is not None:
        what = type(wrong).__name__ if wrong is features else f"a {type(features).__name__} holding {type(wrong).__name__}"
        raise TypeError(f"DANLoss {name} features must be torch tensors (a tensor, or a dict or list of them), "
                        f"got {what}")


def _step_number(step) -> int:
    """``step`` of DANLoss.step as an int: an integer >= 1 (numpy integers too, not bool or float)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
        raise ValueError(f"DANLoss.step(step): step is the number of the optimiser step just made, counted "
                         f"from 1 (an integer >= 1, or omit it to count one more), got {step!r}")
    return int(step)


_SETTINGS_BEFORE_ESTIMATORS = {"estimator": "linear", "block_size": None}


RANK_CONTRACT = ("DANLoss under DDP: in training mode (.train() with gradients enabled) every rank must call it "
                 "for every step, with its equal slice of the global batch; a pass on one rank alone must run "
                 "under .eval() or torch.no_grad()")


def global_bandwidths(fs: torch.Tensor, ft: torch.Tensor, kernel_num: int, kernel_mul: float, info,
                      estimator: str = "linear", block_size: Optional[int] = None):
    """The bandwidths of the global batch's layer: under DDP gbar must be the mean over every
    rank's pairs, so it is all-reduced and the bandwidths are passed explicitly; a single process
    returns None and lets the op derive them (the same formula). (The all-pairs estimators compare
    the pairs within each rank's slice of the batch; gbar is the mean of the ranks' means.)

    The same all-reduce checks that every rank's slice has the same rows (the mean of the ranks'
    estimates is the global batch's only then): it carries each rank's row counts n and n^2, and
    the sizes are all equal exactly when world * sum(n^2) == sum(n)^2. Only when they are not do the
    ranks (all of them, as all see the same sums) gather the sizes, to name them."""
    if not info.active:
        return None
    gbar = dan_ext.estimator_mean_sqdist(fs, ft, estimator=estimator, block_size=block_size)
    ns, nt, d = fs.shape[0], ft.shape[0], fs.shape[1]
    # on the features' device, as the backend wants (NCCL takes CUDA tensors only); the feature
    # width d the same way: ranks passing different layers would be averaged into nonsense
    counts = torch.tensor([ns, nt, ns * ns, nt * nt, d, d * d], dtype=torch.float64, device=gbar.device)
    packed = torch.cat([gbar.detach().double().reshape(1), counts])
    all_reduce(packed, RANK_CONTRACT)  # sums over ranks (the counts' exactly: integers below 2^53)
    _, sum_s, sum_t, sq_s, sq_t, sum_d, sq_d = packed.tolist()
    if info.world * sq_s != sum_s ** 2 or info.world * sq_t != sum_t ** 2:
        _refuse_unequal_slices(ns, nt, info, gbar.device)
    if info.world * sq_d != sum_d ** 2:
        widths = [torch.zeros(1, dtype=torch.int64, device=gbar.device) for _ in range(info.world)]
        torch.distributed.all_gather(widths, torch.tensor([d], device=gbar.device))
        each = ", ".join(f"rank {r} {int(w)}" for r, w in enumerate(widths))
        raise ValueError("DANLoss under DDP: every rank must pass the same layers (features of the same width), "
                         f"got feature widths {each}")
    return dan_ext.default_bandwidths(packed[0] / info.world, kernel_num, kernel_mul)


def _refuse_unequal_slices(ns: int, nt: int, info, device) -> None:
    sizes = [torch.zeros(2, dtype=torch.int64, device=device) for _ in range(info.world)]
    torch.distributed.all_gather(sizes, torch.tensor([ns, nt], device=device))
    each = ", ".join(f"rank {r} {int(s[0])} source / {int(s[1])} target" for r, s in enumerate(sizes))
    raise ValueError(f"DANLoss under DDP: every rank must pass an equal slice of the global batch, got rows {each}")


def normalised_weights(values, kernel_num: int, what: str = "betas") -> List[float]:
    """``values`` (numbers, or a string of comma-separated numbers): kernel_num finite non-negative
    weights, not all zero, as a list summing to 1; a one-line ValueError naming ``what`` otherwise."""
    try:
        w = [float(v) for v in (values.split(",") if isinstance(values, str) else values)]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be {kernel_num} comma-separated numbers, got {values!r}") from None
    if len(w) != kernel_num or not betas_allowed(torch.tensor(w, dtype=torch.float64)):
        raise ValueError(f"{what} must be {kernel_num} finite non-negative numbers, not all zero "
                         f"(one per kernel, narrowest bandwidth first), got {values!r}")
    w = [v / max(w) for v in w]  # scaled first: the sum of weights near 1e308 would overflow to inf
    return [v / math.fsum(w) for v in w]
