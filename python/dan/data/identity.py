"""What a run was trained on, recorded in its checkpoint so that --resume on other data is refused
instead of silently training on it (a renamed class folder flips labels; added or removed images
change every later batch, so "bit for bit" would quietly stop holding).

A domain's identity is its class names in label order, its number of images and the fingerprint
the domain gives of itself (DomainInterface.fingerprint): for an image folder, SHA-256 over the
image paths relative to the folder and their labels (file contents are not read: an image edited
in place keeps the fingerprint); for an in-memory digit domain, SHA-256 over its pixels and labels.
"""
from __future__ import annotations

from typing import Dict, List, Optional


def identity(domain) -> dict:
    return {"name": domain.name, "classes": list(domain.classes), "images": len(domain),
            "fingerprint": domain.fingerprint()}


def _names(values: List[str]) -> str:
    return ", ".join(values[:6]) + (f" and {len(values) - 6} more" if len(values) > 6 else "")


def difference(stored: Optional[Dict[str, dict]], now: Dict[str, dict]) -> Optional[str]:
    """One line naming how the data now differs from a checkpoint's, or None when it is the same
    (or the checkpoint predates this record)."""
    if not isinstance(stored, dict):
        return None
    for role in ("source", "target"):
        old, new = stored.get(role), now[role]
        if not isinstance(old, dict):
            continue
        if old.get("classes") != new["classes"]:
            return (f"the {role}'s classes differ (checkpoint: {_names(old.get('classes') or [])}; now: "
                    f"{_names(new['classes'])})")
        if old.get("images") != new["images"]:
            return f"the {role} has {new['images']} images now, {old.get('images')} when the run started"
        if old.get("fingerprint") != new["fingerprint"]:
            return f"the {role}'s images are other files than when the run started (same count, {new['images']})"
    return None
