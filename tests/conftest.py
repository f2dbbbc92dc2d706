import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def reference_rows():
    """Real problems from the paper's generator (a copy lives in tests/fixtures for CI)."""
    path = FIXTURES / "reference_samples.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def folder_in_use():
    """`with folder_in_use(out) as pid:` another process holds `out`'s interplay lock (as a run writing
    there would) until the block ends; then it is killed, as a crashed run would be."""

    @contextmanager
    def hold(folder: Path):
        code = ("import sys, time; from pathlib import Path; from interplay import locks; "
                "locks.hold_for_process(Path(sys.argv[1]) / locks.FOLDER_LOCK, 'x'); print('held', flush=True); "
                "time.sleep(120)")
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "held"
            yield proc.pid
        finally:
            proc.kill()
            proc.wait()

    return hold
