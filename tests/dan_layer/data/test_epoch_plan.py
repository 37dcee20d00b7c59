"""An epoch's batches are drawn lazily (epoch_data.EpochPlan): memory does not grow with the number of
steps, and the batches, seeds and the sampler's state afterwards are exactly those of the eager
version that drew every index list up front (so runs and checkpoints did not change)."""
import math
import subprocess
import sys
import textwrap

import torch

from dan import epoch_data


def _eager(gen, n_source, n_target, batch, steps, seeds):
    """The eager version, kept here as the specification of the random stream."""
    def stream(n):
        return torch.cat([torch.randperm(n, generator=gen) for _ in range(math.ceil(steps * batch / n))])

    perm_s, perm_t = stream(n_source), stream(n_target)
    pairs = [(perm_s[k * batch:(k + 1) * batch], perm_t[k * batch:(k + 1) * batch]) for k in range(steps)]
    drawn = torch.randint(0, 2 ** 62, (steps, 2, batch), generator=gen) if seeds else None
    return pairs, drawn


def test_lazy_plan_is_the_eager_stream():
    for n_s, n_t, batch, steps, seeds in ((20, 7, 4, 9, True), (100, 100, 32, 3, False), (5, 64, 6, 40, True)):
        g_eager, g_lazy = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        pairs, drawn = _eager(g_eager, n_s, n_t, batch, steps, seeds)
        plan = epoch_data.EpochPlan(g_lazy, n_s, n_t, batch, steps, seeds)
        assert torch.equal(g_lazy.get_state(), g_eager.get_state())  # the sampler ends where it did
        for _ in range(2):  # re-iterable: the source and the target loader each walk it
            got = list(plan)
            assert len(got) == steps == len(plan)
            for k, step in enumerate(got):
                assert torch.equal(step.source, pairs[k][0]) and torch.equal(step.target, pairs[k][1])
                assert (step.seeds is None) == (not seeds)
                if seeds:
                    assert torch.equal(step.seeds, drawn[k])


def test_memory_does_not_grow_with_the_number_of_steps(tmp_path):
    """300,000 steps of 32 (the issue's probe: 3.4 GB and no step after 35 s eagerly): the plan is
    made and its first steps drawn with a small peak RSS, in a child process to measure it alone."""
    script = textwrap.dedent("""
        import resource, sys, time, torch
        from dan import epoch_data
        start = time.time()
        plan = epoch_data.EpochPlan(torch.Generator().manual_seed(0), 2000, 1500, 32, 300000, seeds=True)
        first = [s for _, s in zip(range(5), plan)]
        assert len(first) == 5 and first[0].seeds.shape == (2, 32)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, time.time() - start)
    """)
    base = subprocess.run([sys.executable, "-c", "import resource, torch; from dan import epoch_data; "
                           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"],
                          capture_output=True, text=True, check=True, cwd=tmp_path)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    peak_mb, seconds = run.stdout.split()
    grew = int(peak_mb) - int(base.stdout)
    assert grew < 150, f"the plan of 300,000 steps took {grew} MB more than importing torch"
    assert float(seconds) < 60
