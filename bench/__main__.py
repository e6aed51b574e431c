"""Run every benchmark in turn: `make bench` or `python -m bench`.

Each is also runnable alone (`python -m bench.dispatch --events 2000`); they print
figures and ratios measured side by side in one run, and assert nothing.
"""

import runpy
import sys

BENCHMARKS = ("bench.dispatch", "bench.fias_swap", "bench.reconcile", "bench.board", "bench.outage")


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        sys.argv = [name]
        runpy.run_module(name, run_name="__main__")


if __name__ == "__main__":
    main()
