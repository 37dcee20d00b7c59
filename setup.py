"""Build driver: setuptools runs CMake (CMakeLists.txt) to build dan_ext._C.

Environment:
  DAN_EXT_CUDA=1 / 0      force the CUDA kernels on (fail without nvcc) or off; unset: on when nvcc is found
  DAN_EXT_CUDA_ARCHS      CUDA architectures, e.g. "90" (default "75;80;86;89;90")
  DAN_EXT_CPU_ARCH        CPU kernels' instruction set: portable (default), native, or a -march value
  CUDA_HOME / CUDACXX     where the CUDA toolkit / nvcc lives
  CMAKE_BUILD_PARALLEL_LEVEL  parallel compile jobs
"""
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def find_nvcc():
    """The real nvcc of a toolkit root: CMake derives include and library folders from it,
    so a wrapper script on PATH (as on our build machines) is resolved to the toolkit."""
    candidates = []
    if os.environ.get("CUDACXX"):
        candidates.append(os.environ["CUDACXX"])
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            candidates.append(os.path.join(os.environ[var], "bin", "nvcc"))
    candidates.append("/usr/local/cuda/bin/nvcc")
    candidates += sorted(glob.glob("/usr/local/cuda-*/bin/nvcc"), reverse=True)
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(on_path)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            root = Path(c).resolve().parent.parent
            if (root / "include" / "cuda_runtime.h").exists() or (root / "targets").exists():
                return str(Path(c).resolve())
    return None


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import pybind11

        extdir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_temp = Path(self.build_temp) / ext.name
        # pip's isolated build environments live in fresh temporary folders, so a CMake cache
        # from an earlier `pip install .` points at a cmake/pybind11 that no longer exists:
        # configure from scratch every time (the build itself takes ~20 s).
        shutil.rmtree(build_temp, ignore_errors=True)
        build_temp.mkdir(parents=True, exist_ok=True)
        cuda = os.environ.get("DAN_EXT_CUDA", "").strip().lower()
        cuda_mode = {"1": "ON", "on": "ON", "true": "ON", "0": "OFF", "off": "OFF", "false": "OFF"}.get(cuda, "AUTO")
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={extdir}{os.sep}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DDAN_EXT_CUDA={cuda_mode}",
        ]
        if os.environ.get("DAN_EXT_CUDA_ARCHS"):
            args.append(f"-DDAN_EXT_CUDA_ARCHS={os.environ['DAN_EXT_CUDA_ARCHS']}")
        if os.environ.get("DAN_EXT_CPU_ARCH"):
            args.append(f"-DDAN_EXT_CPU_ARCH={os.environ['DAN_EXT_CPU_ARCH']}")
        if cuda_mode != "OFF":
            nvcc = find_nvcc()
            if nvcc:
                args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
            elif cuda_mode == "ON":
                raise RuntimeError("DAN_EXT_CUDA=1 but no nvcc was found: set CUDA_HOME or CUDACXX")
        if shutil.which("ninja"):
            args.append("-GNinja")
        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(["cmake", str(ROOT), *args], cwd=build_temp, check=True, env=env)
        subprocess.run(["cmake", "--build", ".", "--config", "Release"], cwd=build_temp, check=True, env=env)


setup(
    ext_modules=[CMakeExtension("dan_ext._C")],
    cmdclass={"build_ext": CMakeBuild},
)
