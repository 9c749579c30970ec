"""The README's "Running on Kafka" example runs as written (after its tester example)."""
import re
from pathlib import Path


def test_readme_kafka_example(capsys):
    text = (Path(__file__).parents[2] / "README.md").read_text()
    namespace: dict = {}
    for section in ("## A processor and its unit test", "## Running on Kafka"):
        block = re.search(re.escape(section) + r"\n\n```python\n(.*?)```", text, re.S).group(1)
        exec(compile(block, "README.md", "exec"), namespace)
    assert "alice: 3" in capsys.readouterr().out
