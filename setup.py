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
        language_level=3,
        compiler_directives={"embedsignature": True, "binding": True},
    )

setup(ext_modules=ext_modules)
