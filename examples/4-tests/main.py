"""4-tests: runs the tester examples in test_example.py with pytest.

    python examples/4-tests/main.py [pytest options]
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    # --smoke (taken by every example) means nothing more here: the tests are the scenario
    args = [a for a in sys.argv[1:] if a != "--smoke"]
    if "-h" in args or "--help" in args:
        print(__doc__.strip())
        print("\nAny other options go to pytest (see 'python -m pytest --help').")
        sys.exit(0)
    sys.exit(pytest.main([str(Path(__file__).resolve().parent / "test_example.py"), "-q", *args]))
