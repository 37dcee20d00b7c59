"""Import paths of modules that moved into subpackages keep working: ``import dan_ext._backend``
gives the module that now lives at ``dan_ext.linear.backend``, the same object, so patching either
patches both. dan_ext 0.1 kept its three op families side by side in one folder; dan (the
pure-Python layer) moved its modules the same way and registers its own map with ``install``."""
import importlib
import importlib.abc
import importlib.util
import sys
from typing import Dict

MOVED = {
    "dan_ext.ops": "dan_ext.linear.op",
    "dan_ext._backend": "dan_ext.linear.backend",
    "dan_ext.jmmd": "dan_ext.joint.op",
    "dan_ext._jmmd_backend": "dan_ext.joint.backend",
    "dan_ext._jmmd_checks": "dan_ext.joint.checks",
    "dan_ext._allpairs": "dan_ext.estimators.allpairs",
    "dan_ext.reference_estimators": "dan_ext.estimators.reference",
}


class OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, moved: Dict[str, str]):
        self.moved = moved

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in self.moved else None

    def create_module(self, spec):
        return importlib.import_module(self.moved[spec.name])  # the module itself, not a copy

    def exec_module(self, module):
        pass  # already executed under its new name

    def get_code(self, name):
        """``python -m OLD`` asks the loader for code to run as __main__: the moved module's, so an old
        path runs as a script as it did (``python -m dan.cli train ...``)."""
        spec = importlib.util.find_spec(self.moved[name])
        return spec.loader.get_code(spec.name)


def install(moved: Dict[str, str]) -> None:
    """Make every old name in ``moved`` import as its new module (once per map)."""
    if not any(isinstance(f, OldPaths) and f.moved is moved for f in sys.meta_path):
        sys.meta_path.append(OldPaths(moved))
