"""``make bench``: the benchmark suite of issue 5 (see ``docs/performance.md``)."""
