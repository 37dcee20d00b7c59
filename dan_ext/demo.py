"""python -m dan_ext.demo: the MK-MMD of two shifted samples and of two samples of one distribution."""
import time

import torch

import dan_ext


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    n, d = 4096, 256
    print(f"dan_ext {dan_ext.__version__}: compiled={dan_ext.compiled_available()} cuda={dan_ext.cuda_kernels_available()}")
    for shift in (0.0, 0.05, 0.2):
        xs = torch.randn(n, d, generator=gen, requires_grad=True)
        xt = torch.randn(n, d, generator=gen) + shift
        t0 = time.perf_counter()
        st = dan_ext.mkmmd_linear_stats(xs, xt)
        st.loss.backward()
        ms = (time.perf_counter() - t0) * 1e3
        m = st.per_kernel.numel()  # uniform betas 1/m: beta^T Q beta = sum(Q) / m^2
        se = (st.covariance.sum() / m**2 / (2 * st.num_tuples)).sqrt().item()
        print(f"shift {shift:4.2f}: MK-MMD^2 = {st.loss.item():+.5f} (s.e. {se:.5f})  |grad| = {xs.grad.norm():.3e}  "
              f"[{n}x{d}, fwd+bwd {ms:.1f} ms]")


if __name__ == "__main__":
    main()
