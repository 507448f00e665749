"""Run under torchrun by tests/test_micro_batch.py: the lockstep comparison of micro-batches and the
whole batch in every process of a real (gloo) process group, one model family per argument."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hrmlib import dist  # noqa: E402
from test_micro_batch import lockstep  # noqa: E402

if __name__ == "__main__":
    d = dist.init("cpu")
    for arch in sys.argv[1:]:
        lockstep(arch, d)
        print(f"rank {d.rank} {arch}: lockstep ok", flush=True)
    dist.close()
