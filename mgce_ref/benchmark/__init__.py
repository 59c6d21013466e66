"""The benchmark suite: speed and accuracy of every way to compute MGCE, in one run.

``cases`` names the work (backend, op, B, C, beta, dtype) and the suites; ``runner`` builds
each competitor, checks its answer against the exact solver, then times it (shared by
``mgce-ref bench`` and the pytest-benchmark files in ``bench/``); ``memory`` measures peak
memory in a child process; ``plots`` draws the figures from the JSON; ``cli`` is
``mgce-ref bench``. Importing this package imports neither torch nor matplotlib.
"""
