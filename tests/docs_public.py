"""The public API the docs must cover: every name in the __all__ of the public modules, and the
public names that live outside an __all__ (read by tests/docs)."""
import importlib

# the modules whose __all__ is the public API, and the public names that live outside an __all__
PUBLIC_MODULES = ["dan_ext", "dan_ext.estimators", "dan", "dan.methods", "dan.models", "dan.classic"]
PUBLIC_EXTRA = ["dan_ext.reference.quad_tuple_sqdists", "dan_ext.reference.mkmmd_linear",
                "dan_ext.reference.mkmmd_linear_stats", "dan_ext.reference.mean_pair_sqdist",
                "dan_ext.reference.jmmd_linear", "dan_ext.reference.jmmd_linear_stats",
                "dan.methods.settings.Setting", "dan.models.backbones.BACKBONES", "dan.models.backbones.Backbone",
                "dan.trainer.train", "dan.trainer.Trainer", "dan.config.TrainConfig", "dan.config.check",
                "dan.config.CheckedConfig", "dan.config.checked"]


def public_names():
    """(full name, object) of every public name, in the order above."""
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            yield f"{module}.{name}", getattr(mod, name)
    for full in PUBLIC_EXTRA:
        module, name = full.rsplit(".", 1)
        yield full, getattr(importlib.import_module(module), name)
