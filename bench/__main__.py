"""`python -m bench ...`: see BENCHMARKS.md."""

from bench.cli import main

main()
