"""pytest-benchmark configuration for the MGCE benchmark suite.

    pytest bench/                                  # the quick suite (default)
    pytest bench/ --mgce-suite=full                # every beta x C, time against B and C
    pytest bench/ --benchmark-group-by=param:op,param:B,param:C   # regroup as you like

The cases are the ones ``mgce-ref bench`` runs (``mgce_ref.benchmark.cases.suite``), each
parametrized by backend, op, B, C, beta and dtype and checked against the exact solver by
``mgce_ref.benchmark.runner.prepare`` before it is timed.
"""

from mgce_ref.benchmark.cases import beta_str, suite

PARAMS = ("backend", "op", "B", "C", "beta", "dtype")


def pytest_addoption(parser):
    parser.addoption("--mgce-suite", default="quick", choices=("smoke", "quick", "full"),
                     help="which mgce_ref benchmark suite to run (default: quick)")


def pytest_generate_tests(metafunc):
    if set(PARAMS) <= set(metafunc.fixturenames):
        cases = suite(metafunc.config.getoption("--mgce-suite"))
        metafunc.parametrize(
            ",".join(PARAMS),
            [tuple(getattr(c, p) for p in PARAMS) for c in cases],
            ids=[f"{c.backend}-{c.op}-B{c.B}-C{c.C}-beta{beta_str(c.beta)}-{c.dtype}" for c in cases],
        )
