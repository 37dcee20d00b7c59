"""A domain is whatever implements domain_interface.DomainInterface: the two kinds dan ships
(in-memory digits, streamed image folders) do, and a third kind written here, which neither the
trainer nor epoch_data.py knows of, trains through Trainer, seeds, unreadable samples, its own
evaluation batches and accuracy sample included, and resumes bit for bit."""
from pathlib import Path

import pytest
import torch

import dan
from dan.config import TrainConfig
from dan.data import load_domain
from dan.data.interface import Batch, DomainInterface
from dan.trainer import train
from import_scan import imported_modules, imports_under
from dan_helpers import toy_domains
from image_helpers import write_domain


class Jittered:
    """10 class templates, sample i of class i % 10; a training batch jitters each sample by its
    augmentation seed; sample BROKEN can never be read. Evaluation in batches of 7, source
    accuracy on 20 samples drawn by the run's seed."""
    name, classes, labelled = "jittered", [str(i) for i in range(10)], True
    needs_seeds, amp_evaluation = True, True
    BROKEN = 5

    def __init__(self, n=60):
        gen = torch.Generator().manual_seed(7)
        self.templates = torch.rand(10, 1, 8, 8, generator=gen)
        self.y = torch.arange(n) % 10
        self.x = self.templates[self.y]
        self.draws = []

    input_shape = (1, 8, 8)

    def __len__(self):
        return len(self.y)

    def labels(self):
        return self.y

    def sample_name(self, index):
        return f"jittered #{index}"

    def fingerprint(self):
        return f"jittered-{len(self.y)}"

    def _read(self, index, seeds):
        ok = [k for k, i in enumerate(index.tolist()) if i != self.BROKEN]
        failed = [i for i in index.tolist() if i == self.BROKEN]
        x = self.x[index[ok]].clone()
        if seeds is not None:
            for row, k in enumerate(ok):
                x[row] += 0.1 * torch.randn(x[row].shape, generator=torch.Generator().manual_seed(int(seeds[k])))
        return Batch(x if ok else None, index[ok], failed)

    def train_batches(self, draws):
        for draw in draws:
            self.draws.append(draw)
            yield self._read(draw.index, draw.seeds)

    def eval_batches(self, indices=None):
        order = torch.arange(len(self)) if indices is None else torch.as_tensor(indices, dtype=torch.int64)
        for k in range(0, len(order), 7):
            yield self._read(order[k:k + 7], None)

    def accuracy_sample(self, seed):
        return sorted(torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:20].tolist())


def _cfg(out, **kw):
    return TrainConfig(source="jittered", target="toy", method="dan", epochs=2, iters_per_epoch=5, batch_size=16,
                       beta_every=2, out=str(out), **kw)


def test_both_kinds_of_domain_implement_the_interface(tmp_path):
    digits, _ = toy_domains()
    folder = load_domain(f"folder:{write_domain(tmp_path / 'src', classes=('a', 'b'), per_class=2)}", workers=0)
    for domain in (digits, folder, Jittered()):
        assert isinstance(domain, DomainInterface)
    assert [b.index.tolist() for b in digits.eval_batches([3, 1])] == [[3, 1]]
    assert torch.equal(folder.labels(), torch.tensor([0, 0, 1, 1]))


def test_the_trainer_and_its_batches_know_no_kind_of_domain():
    root = Path(dan.__file__).parent
    for module, package in (("trainer.py", "dan"), ("data/epoch_plan.py", "dan.data"), ("commands/plot.py", "dan.commands")):
        names = imported_modules(root / module, package)
        assert not imports_under(names, "dan.data.image_data") and not imports_under(names, "dan.data.digit_images"), module


@pytest.mark.filterwarnings("ignore:epoch .* unreadable:RuntimeWarning")
def test_a_third_kind_of_domain_trains_through_the_interface(tmp_path):
    source, (_, target) = Jittered(), toy_domains()
    with pytest.warns(RuntimeWarning, match=r"unreadable image\(s\), e\.g\. jittered #5"):  # sample_name
        result = train(_cfg(tmp_path / "a"), progress=False, source=source, target=target)
    assert source.draws and all(d.seeds is not None and len(d.seeds) == len(d.index) == 16 for d in source.draws)
    seeds = torch.stack([d.seeds for d in source.draws])
    assert len(seeds.unique()) == seeds.numel()  # drawn per sample and step from the trainer's sampler
    log = (tmp_path / "a" / "log.csv").read_text()
    assert "skipped_images" in log.splitlines()[0]  # sample BROKEN is drawn every epoch (5 x 16 > 60)
    sample = source.accuracy_sample(TrainConfig.seed)
    assert result["source_images"] == 20
    assert result["source_evaluated"] == 20 - (Jittered.BROKEN in sample)
    assert result["target_evaluated"] == len(target) and result["target_accuracy"] is not None

    # stopped after epoch 1 and resumed: the same model as the straight run
    train(_cfg(tmp_path / "b"), progress=False, source=Jittered(), target=target, stop_after_epoch=1)
    train(_cfg(tmp_path / "b"), progress=False, source=Jittered(), target=target, resume=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
