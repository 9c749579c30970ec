"""The README's tester example runs as written."""
import re
from pathlib import Path


def test_readme_tester_example():
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"## A processor and its unit test\n\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["test_count"]()


def test_readme_error_policy_example():
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"## When a message cannot be processed\n.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["test_bad_order_is_dead_lettered"]()
