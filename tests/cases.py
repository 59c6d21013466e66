"""Adversarial and random rows for the accuracy tests, deterministic from a seed."""

import math

import numpy as np

CPU_BACKENDS = ("numba", "numpy", "exact")
BETAS = (1.0, 1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e4, 1e6, math.inf)


def random_rows(seed, B, C, scale, offset=0.0):
    rng = np.random.default_rng(seed)
    return offset + scale * rng.standard_normal((B, C))


def adversarial_rows():
    """(name, logits (B, C)) pairs: the known traps."""
    rng = np.random.default_rng(7)
    dominant = np.full((2, 1200), -3.0)
    dominant[0, 17] = 40.0
    dominant[1, 5] = 4.0
    many = rng.standard_normal((2, 1500))
    return [
        ("ties", np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 2.0, -1.0, -1.0], [0.5, 0.5, 0.5, 0.5]])),
        ("constant", np.array([[3.0] * 7, [-1e6] * 7, [0.0] * 7])),
        ("single_class", np.array([[0.3], [-7.0]])),
        ("two_classes", np.array([[0.0, 1e-9], [0.0, 5.0], [0.0, -0.7]])),
        ("dominant", dominant),
        ("offset_1e6", 1e6 + rng.standard_normal((3, 9))),
        ("offset_neg_1e6", -1e6 + 3 * rng.standard_normal((3, 9))),
        ("spread_1e300", np.array([[1e300, -1e300, 0.0, 1.0], [0.0, -1e300, -1e299, 1e-300]])),
        ("huge_logits", np.array([[1e308, 1e308, -1e308], [1e308, 1e307, 0.0]])),
        ("tiny_spread", 1e-12 * rng.standard_normal((3, 6))),
        ("classes_1500", many),
        ("near_tie", np.array([[0.0, -1e-15, -2e-15, -1.0], [1.0, 1.0 - 2**-52, 0.0, 0.0]])),
    ]
