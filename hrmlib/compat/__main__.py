"""`python -m hrmlib.compat parity DIR`: recompute a parity fixture of the original HRM or TRM."""
import sys

from .parity import run

if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv):
        print(__doc__ + "\nusage: python -m hrmlib.compat parity FIXTURE_DIR   (tests/fixtures/hrm-reference, trm-reference)")
        sys.exit(0)
    if len(sys.argv) != 3 or sys.argv[1] != "parity":
        print("usage: python -m hrmlib.compat parity FIXTURE_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[2]))
