import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def reference_rows():
    """Real problems from the paper's generator (a copy lives in tests/fixtures for CI)."""
    path = FIXTURES / "reference_samples.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
