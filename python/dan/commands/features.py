"""``dan features``: the features of a source and a target domain from a backbone, cached, for the
classical methods (``dan classic``).

The domains are read exactly as ``dan train`` reads them (dan.data.domains.load_domain: digit
domains in memory, folder:PATH streamed batch by batch through the evaluation transform) and the
network is the one ``dan train`` builds (dan.models.build_model), in eval mode, without gradients.

Layers (--layer): ``backbone`` (the default without --checkpoint): the backbone's pooled output,
its ImageNet classifier removed (1280 features for efficientnet_lite0, 512 for digits_cnn); an
adapted layer of the network by name (bottleneck, logits, fc6, ...; the default with --checkpoint
is the penultimate one, the layer DAN adapted, as dan plot uses); ``input``: the network's input
itself, flattened (raw pixels: 64 per 8x8 digit), with no network run.

Without --checkpoint the adapted layers are new, randomly initialised layers (seed INIT_SEED);
their features mean something only from a checkpoint. The files and when they are reused:
dan.data.feature_cache."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dan.data import feature_cache as cache

INIT_SEED = 0  # the random initial weights of whatever --weights does not cover (new layers)
NETWORK_FREE = "input"  # the layer that needs no network
BODY = "backbone"


def checkpoint_file(given) -> Path:
    """--checkpoint RUN_OR_FILE: a dan train run folder (its checkpoint.pt) or a checkpoint file."""
    from dan.runs.checkpoint import CHECKPOINT

    path = Path(given)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"--checkpoint {given}: no such checkpoint file (give a dan train run folder, which holds "
                         f"{CHECKPOINT}, or the file itself)")
    return path


def _from_checkpoint(given, backbone, weights, image_size):
    """(checkpoint dict, its file, backbone, image size), refusing flags that contradict it."""
    from dan.config import TrainConfig
    from dan.runs.checkpoint import load_checkpoint

    path = checkpoint_file(given)
    ck = load_checkpoint(path)
    cfg = TrainConfig(**ck["config"])
    if backbone is not None and backbone != cfg.backbone:
        raise ValueError(f"--backbone {backbone}: --checkpoint {given} is a {cfg.backbone} network; leave "
                         "--backbone out or give that one")
    if weights is not None:
        raise ValueError(f"--weights {weights}: --checkpoint {given} holds the network's weights; give one of them")
    if image_size is not None and image_size != cfg.image_size:
        raise ValueError(f"--image-size {image_size}: --checkpoint {given} was trained on "
                         f"{cfg.image_size or 'the default crop'} images; leave --image-size out")
    return ck, path, cfg.backbone, cfg.image_size


def _check_weights(spec, weights) -> Optional[str]:
    """--weights resolved as dan train resolves it: None -> the backbone's default; "none" -> None."""
    weights = spec.default_weights if weights is None else weights
    if weights in (None, "none"):
        return None
    if not spec.takes_weights:
        raise ValueError(f"--weights {weights}: the {spec.name} backbone is trained from scratch and takes no weights")
    if weights != "imagenet" and not Path(weights).is_file():
        raise ValueError(f"--weights must be imagenet, none or a state-dict file; {weights} is not a file")
    return weights


def layers_of(spec) -> tuple:
    return (NETWORK_FREE, BODY) + tuple(spec.adapted)


def _check_image_size(image_size) -> None:
    from dan.config import MAX_IMAGE_SIZE

    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or not 8 <= image_size <= MAX_IMAGE_SIZE):
        raise ValueError(f"--image-size must be an integer from 8 to {MAX_IMAGE_SIZE}, got {image_size!r}")


@torch.no_grad()
def layer_rows(model, x: torch.Tensor, layer: str) -> torch.Tensor:
    """One batch's features at LAYER (module docstring), one flattened row per image."""
    if layer == NETWORK_FREE:
        return x.flatten(1)
    if layer == BODY:
        return model.backbone(x).flatten(1)
    return model(x)[1][layer].flatten(1)


def _rows(domain, model, layer: str, device, bar) -> tuple:
    """(features, labels, indices of the rows, indices that did not decode), streamed batch by batch."""
    parts, index, failed = [], [], []
    for b in domain.eval_batches():
        failed += list(b.failed)
        if b.x is not None:
            parts.append(layer_rows(model, b.x.to(device), layer).float().cpu().numpy())
            index.append(b.index.numpy())
        if bar is not None:
            bar.update(len(b.index) + len(b.failed))
    if not parts:
        raise ValueError(f"{domain.name}: none of its {len(domain)} images could be decoded")
    index = np.concatenate(index)
    labels = domain.labels()
    y = labels.numpy()[index] if labels is not None else np.full(len(index), -1, dtype=np.int64)
    return np.concatenate(parts), y, index, failed


def _names(domain, indices) -> Optional[list]:
    """The file of each row, relative to the folder (image folders), or None (digit domains)."""
    images = getattr(domain, "images", None)
    if images is None:
        return None
    out = []
    for i in indices:
        path = images.paths[int(i)]
        try:
            out.append(path.relative_to(images.root).as_posix())
        except ValueError:
            out.append(str(path))
    return out


def extract_features(source: str, target: str, out, backbone: Optional[str] = None, weights: Optional[str] = None,
                     checkpoint=None, layer: Optional[str] = None, image_size: Optional[int] = None,
                     cache_dir=None, workers: int = 2, device: str = "cpu", progress: bool = True) -> dict:
    """Write (or reuse) OUT/source.* and OUT/target.* (dan.data.feature_cache) and return
    {role: {"domain", "reused", "why", "rows", "width", "layer", "path"}}."""
    from dan.config import check_device, check_workers
    from dan.data.domains import check_compatible, check_domain_name, load_domain
    from dan.models.backbones import BACKBONES
    from dan.models.networks import build_model, check_input_shape
    from dan.runs.output_files import check_folder, check_writable

    check_domain_name(source, "--source")
    check_domain_name(target, "--target")
    check_workers(workers)
    dev = check_device(device)
    _check_image_size(image_size)
    out = Path(out)
    check_folder(out, "--out")
    check_writable(out, "--out")
    ck = ck_path = None
    if checkpoint is not None:
        ck, ck_path, backbone, image_size = _from_checkpoint(checkpoint, backbone, weights, image_size)
    if backbone is None:
        raise ValueError(f"--backbone: give one of {', '.join(BACKBONES)} (or a --checkpoint, whose it is)")
    spec = BACKBONES.get(backbone)
    if spec is None:
        raise ValueError(f"--backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    weights = None if ck is not None else _check_weights(spec, weights)
    layer = layer or (spec.adapted[-2] if ck is not None else BODY)
    if layer not in layers_of(spec):
        raise ValueError(f"--layer must be one of {', '.join(layers_of(spec))} for the {backbone} network, "
                         f"got {layer!r}")
    # the existing records are read first: files of the user's refuse before any data is loaded
    records = {role: cache.read_record(out, role) for role in cache.ROLES}
    domains = {"source": load_domain(source, cache_dir, image_size, workers, labelled=True),
               "target": load_domain(target, cache_dir, image_size, workers)}
    check_compatible(domains["source"], domains["target"])
    if image_size is not None and all(getattr(d, "images", None) is None for d in domains.values()):
        if checkpoint is None:  # the digit arrays are never resized: the records would claim a size never used
            raise ValueError(f"--image-size {image_size}: applies to folder: domains only; {source} and {target} are "
                             "8 x 8 digit arrays, used as they are")
        image_size = None  # a checkpoint's --image-size that its digit domains did not use either
    if layer != NETWORK_FREE:  # raw pixels go through no network, at any size
        check_input_shape(backbone, domains["source"])
    if ck is not None and list(ck["classes"]) != list(domains["source"].classes):
        raise ValueError(f"--checkpoint {checkpoint} was trained on the classes {', '.join(ck['classes'][:8])}; "
                         f"--source {source} has {', '.join(domains['source'].classes[:8])}")
    common = {"format": cache.FORMAT, "backbone": backbone, "layer": layer, "image_size": image_size,
              "weights": weights or "none",
              "weights_sha256": cache.file_digest(weights) if weights not in (None, "imagenet") else None,
              "checkpoint_sha256": cache.file_digest(ck_path) if ck_path is not None else None,
              "init_seed": INIT_SEED}
    model, done = None, {}
    for role, domain in domains.items():
        key = {**common, "data": cache.data_key(domain)}
        record = records[role]
        why = "no features there yet" if record is None else cache.differs(record.get("key") or {}, key)
        if why is None:
            arrays = cache.load_arrays(out, role, record)
            if arrays is not None:
                done[role] = _summary(domain, True, "the same inputs", record, layer, out, role)
                continue
            why = "the stored arrays do not match their record"
        if model is None and layer != NETWORK_FREE:
            with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
                torch.manual_seed(INIT_SEED)
                model = build_model(backbone, len(domains["source"].classes), weights)
            if ck is not None:
                model.load_state_dict(ck["model"])
            model.eval().to(dev)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(domain), desc=f"features {role} {domain.name}", unit="img", leave=False)
        try:
            x, y, index, failed = _rows(domain, model, layer, dev, bar)
        finally:
            if bar is not None:
                bar.close()
        out.mkdir(parents=True, exist_ok=True)
        info = {"domain": domain.name, "classes": list(domain.classes), "files": _names(domain, index),
                "skipped": [domain.sample_name(i) for i in failed], "backbone": backbone, "weights": weights or "none",
                "checkpoint": str(ck_path) if ck_path is not None else None, "layer": layer,
                "image_size": image_size, "image_transform": _transform(domain)}
        record = cache.write(out, role, x, y, key, info)
        done[role] = _summary(domain, False, why, record, layer, out, role)
    return done


def _transform(domain) -> str:
    if getattr(domain, "images", None) is None:
        return "none (digit arrays)"
    if domain.fixed:
        return f"resized to {domain.size} x {domain.size} (no crop)"
    return f"shorter side to {round(domain.size * 256 / 224)}, centre crop {domain.size} x {domain.size}"


def _summary(domain, reused: bool, why: str, record: dict, layer: str, out: Path, role: str) -> dict:
    return {"domain": domain.name, "reused": reused, "why": why, "rows": record["rows"], "width": record["width"],
            "skipped": len(record.get("skipped") or []), "layer": layer, "path": str(cache.paths(out, role)[0])}
