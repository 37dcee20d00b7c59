"""JAN (Long, Zhu, Wang, Jordan, "Deep Transfer Learning with Joint Adaptation Networks", ICML 2017),
as a method of the trainer: the MMD of the joint distribution of two layers' activations, the
penultimate adapted layer (the bottleneck of the image backbones, fc7 of digits_cnn and AlexNet)
and the softmax of the logits, with the product of the layers' kernels (dan_ext.jmmd_linear: one
fused pass over DAN's quad-tuples, O(n (d_1 + d_2)), no n x n matrix).

Kernels as in the paper and the common ResNet re-implementation (Transfer-Learning-Library's
JointMultipleKernelMaximumMeanDiscrepancy): on the features DAN's ladder of 5 Gaussian kernels
(--kernel-mul, uniform weights; we weigh them 1/5 where tllib sums them, a constant factor), on the
softmax one Gaussian kernel of fixed width sigma = 0.92, exp(-|x - y|^2 / (2 sigma^2)). Weighted by
lambda as DAN is (--lam, --lam-ramp). Under torchrun the features' mean distance behind their
bandwidths is all-reduced (the softmax kernel is fixed), so every rank uses the global batch's
bandwidths, and the mean of the ranks' penalties is the global one.
"""
from __future__ import annotations

from typing import Dict

import torch

import dan_ext
from dan_ext import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM

from dan.distributed import all_mean, process_group
from dan.methods.dan_loss import global_bandwidths
from dan.methods.mkmmd import KERNEL_MUL, check_kernel_mul
from dan.methods.penalty import Method, Penalty

SOFTMAX_SIGMA = 0.92  # tllib's GaussianKernel(sigma=0.92, track_running_stats=False) on the softmax


class JAN(Penalty):
    def __init__(self, features: str, logits: str, kernel_num: int = DEFAULT_KERNEL_NUM,
                 kernel_mul: float = DEFAULT_KERNEL_MUL):
        super().__init__()
        self.layers = (features, logits)
        self.kernel_num, self.kernel_mul = kernel_num, float(kernel_mul)
        self.softmax_bandwidth = 2 * SOFTMAX_SIGMA ** 2

    def forward(self, source, target, progress=None) -> torch.Tensor:
        features, logits = self.layers
        fs, ft = source[features], target[features]
        ps, pt = torch.softmax(source[logits].float(), dim=1), torch.softmax(target[logits].float(), dim=1)
        fs, ft = fs.to(ps.dtype), ft.to(ps.dtype)  # one dtype for the fused op: float32 (--amp's bfloat16 too)
        info = process_group()
        feature_bw = global_bandwidths(fs, ft, self.kernel_num, self.kernel_mul, info)
        value = dan_ext.jmmd_linear([fs, ps], [ft, pt], [feature_bw, [self.softmax_bandwidth]],
                                    kernel_nums=[self.kernel_num, 1], kernel_muls=[self.kernel_mul, 1.0])
        self._log = {"jmmd": float(all_mean(value.detach().double(), info))}
        return value.float()

    def result_columns(self, last_row) -> Dict[str, object]:
        return {"final_jmmd": last_row.get("jmmd")}


def _check(cfg) -> None:
    check_kernel_mul(cfg, DEFAULT_KERNEL_NUM)


METHOD = Method("jan", "JAN: joint MMD of the penultimate layer and the softmax, product kernel (Long et al. 2017)",
                lambda cfg, network: JAN(network.adapted[-2], network.adapted[-1], DEFAULT_KERNEL_NUM, cfg.kernel_mul),
                _check, settings=(KERNEL_MUL,))
