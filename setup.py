"""Build the compiled twins under goka/_core/ (Cython).

GOKA_NO_EXTENSIONS=1 at build time skips them; the pure twins are then used.
"""
import os
from pathlib import Path

from setuptools import setup

ext_modules = []
if os.environ.get("GOKA_NO_EXTENSIONS", "") in ("", "0"):
    from Cython.Build import cythonize

    sources = sorted(str(p) for p in Path("goka/_core").glob("_*_c.pyx"))
    ext_modules = cythonize(
        sources,
        nthreads=os.cpu_count() or 1,  # translate the modules in parallel
        language_level=3,
        compiler_directives={"embedsignature": True, "binding": True},
    )

# compile the generated C in parallel too
setup(ext_modules=ext_modules, options={"build_ext": {"parallel": os.cpu_count() or 1}})
