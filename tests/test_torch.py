"""mgce_ref.torch: the loss, module, link and worst case as torch operators.

The torch path must give the core's numbers bit for bit (it runs the same kernels on the
tensors' memory), follow F.cross_entropy's conventions, differentiate in closed form from the
forward's one solve, and pass the core's error messages through.
"""

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import mgce_ref  # noqa: E402
import mgce_ref.torch as mt  # noqa: E402
from mgce_ref.torch import _ops  # noqa: E402

BETAS = (1.0, 1.3, 2.0, 11.0, math.inf)
GRADCHECK_BETAS = (1.3, 2.0, 11.0, math.inf)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _batch(B=9, C=6, dtype=torch.float64, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = (scale * torch.randn(B, C, generator=g, dtype=torch.float64)).to(dtype)
    y = torch.randint(0, C, (B,), generator=g)
    return x, y


@pytest.fixture
def calls(monkeypatch):
    """Every call the torch operators make into the core: (logits array, outputs)."""
    seen = []
    run = _ops._dispatch.run

    def spy(logits, labels, beta, backend, outputs):
        seen.append((logits, outputs))
        return run(logits, labels, beta, backend, outputs)

    monkeypatch.setattr(_ops._dispatch, "run", spy)
    return seen


def test_import_mgce_ref_does_not_import_torch():
    code = "import sys, mgce_ref; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_torch_the_import_says_what_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import mgce_ref.torch\nexcept ImportError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "mgce_ref.torch needs PyTorch >= 2.4: pip install 'mgce_ref[torch]'"


# ------------------------------------------------------------------------------ the loss

@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_and_grad_are_the_cores(beta, dtype):
    x, y = _batch(dtype=dtype)
    x.requires_grad_()
    value = mt.mgce(x, y, beta, reduction="none")
    value.backward(torch.ones_like(value))
    want_loss, want_grad = mgce_ref.loss_and_grad(x.detach().numpy(), y.numpy(), beta)
    assert value.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(value.detach().numpy(), want_loss)
    np.testing.assert_array_equal(x.grad.numpy(), want_grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reductions_and_ignore_index_follow_cross_entropy(reduction):
    x, y = _batch(B=8, C=5)
    y[[1, 4, 6]] = -100
    x.requires_grad_()
    value = mt.mgce(x, y, math.inf, reduction=reduction)
    want = F.cross_entropy(x, y, reduction=reduction)
    torch.testing.assert_close(value, want, rtol=1e-14, atol=1e-14)
    (g,) = torch.autograd.grad(value.sum(), x)
    (g_ce,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(g, g_ce, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("beta", [1.3, 11.0])
def test_ignored_rows_may_hold_any_label(beta):
    x, y = _batch(B=6, C=4)
    keep = torch.tensor([True, False, True, True, False, True])
    y_bad = y.clone()
    y_bad[~keep] = 7  # out of range, but ignored
    x.requires_grad_()
    value = mt.mgce(x, y_bad, beta, ignore_index=7)
    (g,) = torch.autograd.grad(value, x)
    want_loss, want_grad = mgce_ref.loss_and_grad(x.detach()[keep].numpy(), y[keep].numpy(), beta)
    assert value.item() == pytest.approx(want_loss.mean(), rel=1e-15)
    np.testing.assert_allclose(g[keep].numpy(), want_grad / keep.sum().item(), rtol=1e-15)
    assert not g[~keep].any()
    none = mt.mgce(x, y_bad, beta, ignore_index=7, reduction="none")
    assert not none[~keep].any()


def test_all_rows_ignored_gives_what_cross_entropy_gives():
    x, _ = _batch(B=3, C=4)
    y = torch.full((3,), -100)
    x.requires_grad_()
    value = mt.mgce(x, y, 2.0)
    assert math.isnan(value.item()) and math.isnan(F.cross_entropy(x, y).item())
    value.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))  # F.cross_entropy's zeros, not NaN
    assert mt.mgce(x, y, 2.0, reduction="sum").item() == 0.0


def test_one_dimensional_input_takes_a_scalar_target():
    x = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(2)
    value = mt.mgce(x, y, 1.4, reduction="none")
    assert value.shape == ()
    value.backward()
    want_loss, want_grad = mgce_ref.loss_and_grad(x.detach().numpy(), 2, 1.4)
    assert value.item() == want_loss
    np.testing.assert_array_equal(x.grad.numpy(), want_grad)
    assert mt.mgce(x, torch.tensor(-100), 1.4).isnan()  # as F.cross_entropy
    p = mt.link(x, 1.4)
    assert p.shape == (4,)
    np.testing.assert_array_equal(p.detach().numpy(), mgce_ref.link(x.detach().numpy(), 1.4))
    p[2].backward()


def test_module_is_the_functional():
    x, y = _batch()
    module = mt.MGCELoss(1.4, reduction="sum", ignore_index=3)
    assert torch.equal(module(x, y), mt.mgce(x, y, 1.4, reduction="sum", ignore_index=3))
    assert "beta=1.4" in repr(module) and "reduction='sum'" in repr(module)
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        mt.MGCELoss(2.0, reduction="avg")
    with pytest.raises(ValueError, match="beta = 0.5 is below 1"):
        mt.MGCELoss(0.5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eager_path_is_the_custom_ops_bits(reduction, dtype):
    """Eager calls take one autograd node (``functional._EagerLoss``); torch.compile takes the
    custom op and the reduction's operators. Same values and gradients, bit for bit: with and
    without ignored rows, every row ignored, 1-D input, an upstream gradient other than 1."""
    from mgce_ref.torch import functional as mf

    def op_path(x, y, ignore_index):
        value, _ = torch.ops.mgce_ref.loss.default(x, y, 11.0, ignore_index, True)
        return mf._reduce(value, y, ignore_index, reduction)

    x, y = _batch(B=33, C=7, dtype=dtype)
    all_ignored = torch.full_like(y, 5)
    cases = [(x, y, -100), (x, y, 3), (x, all_ignored, 5), (x[4], y[4], -100)]
    for h, t, ignore_index in cases:
        got_in, want_in = h.clone().requires_grad_(), h.clone().requires_grad_()
        got = mt.mgce(got_in, t, 11.0, reduction=reduction, ignore_index=ignore_index)
        want = op_path(want_in, t, ignore_index)
        assert torch.equal(got, want) or (got.isnan().all() and want.isnan().all())
        upstream = torch.full_like(got, 0.7) + torch.arange(got.numel()).reshape(got.shape)
        (g_got,) = torch.autograd.grad(got, got_in, upstream)
        (g_want,) = torch.autograd.grad(want, want_in, upstream)
        assert torch.equal(g_got, g_want)


def test_one_solve_per_forward_and_none_in_backward(calls):
    x, y = _batch()
    x.requires_grad_()
    value = mt.mgce(x, y, 2.0)
    value.backward()
    assert [outputs for _, outputs in calls] == [("loss", "grad")]


def test_no_gradient_work_without_requires_grad(calls):
    x, y = _batch()
    mt.mgce(x, y, 2.0)
    mt.link(x, 2.0)
    with torch.no_grad():
        mt.mgce(x.requires_grad_(), y, 2.0)
        mt.link(x, 2.0)
    mt.link(x, 2.0)
    assert [outputs for _, outputs in calls] == [("loss",), ("link",), ("loss",), ("link",),
                                                 ("link", "worst_case")]


def test_cpu_tensors_are_read_in_place(calls):
    x, y = _batch(dtype=torch.float32)
    mt.mgce(x, y, 2.0)
    mt.link(x, 2.0)
    for h, _ in calls:
        assert h.ctypes.data == x.data_ptr() and h.dtype == np.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    x, y = _batch(dtype=dtype)
    x.requires_grad_()
    value = mt.mgce(x, y, 1.4, reduction="sum")
    value.backward()
    want_loss, want_grad = mgce_ref.loss_and_grad(x.detach().float().numpy(), y.numpy(), 1.4)
    assert value.dtype == dtype and x.grad.dtype == dtype
    assert value.item() == torch.tensor(want_loss.sum(dtype=np.float32)).to(dtype).item()
    assert torch.equal(x.grad, torch.from_numpy(want_grad).to(dtype))
    p = mt.link(x, 1.4)
    assert p.dtype == dtype
    assert torch.equal(p, torch.from_numpy(mgce_ref.link(x.detach().float().numpy(), 1.4)).to(dtype))


# ------------------------------------------------------------------------------ link

@pytest.mark.parametrize("beta", BETAS)
def test_link_and_worst_case_are_the_cores(beta):
    x, _ = _batch()
    np.testing.assert_array_equal(mt.link(x, beta).numpy(), mgce_ref.link(x.numpy(), beta))
    q = mt.worst_case(x.requires_grad_(), beta)
    assert not q.requires_grad
    np.testing.assert_array_equal(q.numpy(), mgce_ref.worst_case(x.detach().numpy(), beta))


@pytest.mark.parametrize("beta", BETAS)
def test_link_vjp_is_the_jacobian_of_the_derivation(beta):
    """h_bar_c = W q_c (p_bar_c - <q, p_bar>), W q_c = s_c**(beta-1), checked against the
    Jacobian built from the core's q and s = p**(1/beta) row by row."""
    x, _ = _batch(B=5, C=7)
    x.requires_grad_()
    p_bar = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (h_bar,) = torch.autograd.grad(mt.link(x, beta), x, p_bar)
    p = mgce_ref.link(x.detach().numpy(), beta)
    q = mgce_ref.worst_case(x.detach().numpy(), beta)
    for r in range(5):
        if beta == 1:
            wq = (p[r] > 0).astype(float)  # s**0 on the support
        elif math.isinf(beta):
            wq = p[r]  # s**(beta-1) -> exp(h + nu) = p
        else:
            wq = p[r] ** ((beta - 1) / beta)
        jac = np.diag(wq) - np.outer(wq, q[r])  # d p_c / d h_j = W q_c (delta_cj - q_j)
        np.testing.assert_allclose(h_bar[r].numpy(), jac.T @ p_bar[r].numpy(), rtol=1e-12,
                                   atol=1e-15)


def test_link_limits_are_sparsemax_and_softmax_backward():
    x, _ = _batch(B=4, C=6)
    x.requires_grad_()
    p_bar = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    (got,) = torch.autograd.grad(mt.link(x, math.inf), x, p_bar)
    (want,) = torch.autograd.grad(torch.softmax(x, -1), x, p_bar)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-16)
    (got,) = torch.autograd.grad(mt.link(x, 1.0), x, p_bar)
    support = mt.link(x, 1.0).detach() > 0
    mean = (p_bar * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)
    torch.testing.assert_close(got, torch.where(support, p_bar - mean, 0.0), rtol=1e-14,
                               atol=1e-15)


def test_link_along_any_dim():
    x = torch.randn(3, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    p = mt.link(x, 2.0, dim=1)
    want = mgce_ref.link(x.movedim(1, -1).reshape(-1, 5).numpy(), 2.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(p.movedim(1, -1).numpy(), want)
    torch.testing.assert_close(p.sum(1), torch.ones(3, 4, dtype=torch.float64))
    q = mt.worst_case(x, 2.0, dim=0)
    assert q.shape == x.shape
    torch.testing.assert_close(q.sum(0), torch.ones(5, 4, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_eager_link_is_the_custom_ops_bits(dtype):
    """Eager calls of :func:`mt.link` take one autograd node (``functional._EagerLink``), of
    :func:`mt.worst_case` the kernel call alone; torch.compile the custom ops and the link's
    registered backward: the same values and vector-Jacobian products, bit for bit, along
    the last dimension and along another."""
    g = torch.Generator().manual_seed(7)
    x = (2.0 * torch.randn(4, 6, 5, generator=g, dtype=torch.float64)).to(dtype)
    for dim in (-1, 1):
        got_in, want_in = x.clone().requires_grad_(), x.clone().requires_grad_()
        got = mt.link(got_in, 1.4, dim=dim)
        rows = want_in.movedim(dim, -1)
        flat = rows.reshape(-1, rows.shape[-1])
        flat = flat.float() if dtype == torch.float16 else flat  # as _float_input casts
        p, _ = torch.ops.mgce_ref.link.default(flat, 1.4, True)
        want = p.to(dtype).reshape(rows.shape).movedim(-1, dim)
        assert torch.equal(got, want)
        upstream = torch.randn(x.shape, generator=g, dtype=torch.float64).to(dtype)
        (g_got,) = torch.autograd.grad(got, got_in, upstream)
        (g_want,) = torch.autograd.grad(want, want_in, upstream)
        assert torch.equal(g_got, g_want)
        q = torch.ops.mgce_ref.worst_case.default(flat.detach(), 1.4)
        want_q = q.to(dtype).reshape(rows.shape).movedim(-1, dim)
        assert torch.equal(mt.worst_case(x, 1.4, dim=dim), want_q)


# ------------------------------------------------------------------ gradcheck, compile

def _off_the_kinks(beta, B=5, C=5, seed=0):
    """float64 logits whose classes sit at least 0.05 from the edge of the support, |s_c| >=
    0.05 at the root. For beta < 2, ``q ~ s**(beta-1)`` has an infinite slope at s = 0, so a
    class within gradcheck's step (1e-6) of the edge makes finite differences of the gradient
    (and of the link's Jacobian) disagree with the exact derivative there; the derivative
    itself is right (test_link_vjp_is_the_jacobian_of_the_derivation)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(100):
        x = 2.0 * torch.randn(B, C, dtype=torch.float64, generator=g)
        if math.isinf(beta):
            return x
        nu = mgce_ref.solve_nu(x.numpy(), beta)
        s = (x.numpy() + nu[:, None]) / beta + 1.0
        if np.abs(s).min() >= 0.05:
            return x
    raise AssertionError("no draw off the kinks")


@pytest.mark.parametrize("beta", GRADCHECK_BETAS)
def test_gradcheck_loss(beta):
    x = _off_the_kinks(beta).requires_grad_()
    y = torch.tensor([0, 4, 2, -100, 1])
    for reduction in ("mean", "none"):
        assert torch.autograd.gradcheck(lambda h: mt.mgce(h, y, beta, reduction=reduction), (x,))


@pytest.mark.parametrize("beta", GRADCHECK_BETAS)
def test_gradcheck_link(beta):
    x = _off_the_kinks(beta, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda h: mt.link(h, beta), (x,))


def test_opcheck():
    """torch's own checks of the registrations: schema, fake kernels, autograd."""
    x, y = _batch(B=4, C=5)
    x.requires_grad_()
    torch.library.opcheck(torch.ops.mgce_ref.loss.default, (x, y, 2.0, -100, True))
    torch.library.opcheck(torch.ops.mgce_ref.link.default, (x, 1.4, True))
    torch.library.opcheck(torch.ops.mgce_ref.worst_case.default, (x.detach(), 11.0))


def test_compile_fullgraph_traces_loss_and_link():
    """dynamo must trace through the ops (fullgraph=True raises on a graph break); aot_eager
    runs the fake kernels and the autograd formulas without inductor's compile time."""
    x, y = _batch(dtype=torch.float32)
    y[0] = -100

    def step(h, t):
        return mt.mgce(h, t, 1.4) + mt.link(h, 2.0)[:, 0].sum()

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    got = compiled(a, y)
    got.backward()
    want = step(b, y)
    want.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(a.grad, b.grad)


_INDUCTOR = """
import torch
import mgce_ref.torch as mt
g = torch.Generator().manual_seed(0)
x = 3 * torch.randn(16, 10, generator=g)
y = torch.randint(0, 10, (16,), generator=g)
compiled = torch.compile(lambda h, t: mt.MGCELoss(11.0)(h, t), fullgraph=True)
a = x.clone().requires_grad_()
compiled(a, y).backward()
b = x.clone().requires_grad_()
mt.mgce(b, y, 11.0).backward()
torch.testing.assert_close(a.grad, b.grad)
print("ok")
"""


@pytest.mark.slow
def test_compile_inductor():
    # Its own interpreter: inductor builds C++ through setuptools, whose distutils shim refuses
    # to load once another test's import has pulled in the standard library's distutils.
    out = subprocess.run([sys.executable, "-c", _INDUCTOR], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-4000:]


def test_no_silent_second_derivative():
    x, y = _batch()
    x.requires_grad_()
    (g,) = torch.autograd.grad(mt.mgce(x, y, 2.0), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.square().sum().backward()
    (g,) = torch.autograd.grad(mt.link(x, 2.0)[:, 0].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.square().sum().backward()


# --------------------------------------------------------------------------- bad input

def test_nonfinite_logits_name_the_row():
    x, y = _batch(B=4, C=3)
    x[2, 1] = math.nan
    with pytest.raises(ValueError, match=r"logits row 2 contains NaN \(column 1\)"):
        mt.mgce(x, y, 2.0)
    x[2, 1] = math.inf
    with pytest.raises(ValueError, match="logits row 2 contains an infinite value"):
        mt.link(x.requires_grad_(), 1.4)
    with pytest.raises(ValueError, match="logits contain NaN at index 0"):
        mt.mgce(torch.tensor([math.nan, 1.0]), torch.tensor(1), 2.0)


def test_labels_out_of_range_and_bad_beta():
    x, y = _batch(B=4, C=3)
    y[1] = 3
    with pytest.raises(ValueError, match=r"labels\[1\] = 3 is out of range for 3 classes"):
        mt.mgce(x, y, 2.0)
    y[1] = -1
    with pytest.raises(ValueError, match=r"labels\[1\] = -1 is negative"):
        mt.mgce(x, y, 2.0)
    with pytest.raises(ValueError, match="beta = 0.9 is below 1"):
        mt.mgce(x, y.clamp(min=0), 0.9)
    with pytest.raises(ValueError, match="beta is NaN"):
        mt.link(x, math.nan)


def test_bad_arguments():
    x, y = _batch(B=4, C=3)
    with pytest.raises(ValueError, match="class probabilities are not supported"):
        mt.mgce(x, torch.softmax(x, -1), 2.0)
    with pytest.raises(TypeError, match="floating dtype"):
        mt.mgce(y.reshape(2, 2), y[:2], 2.0)
    with pytest.raises(ValueError, match=r"shape \(C,\) or \(B, C\)"):
        mt.mgce(x.reshape(2, 2, 3), y, 2.0)
    with pytest.raises(ValueError, match=r"labels have shape \(3,\)"):
        mt.mgce(x, y[:3], 2.0)


# -------------------------------------------------------------------------------- CUDA

@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_cuda_matches_cpu(dtype):
    x, y = _batch(B=300, C=20, dtype=dtype)
    xc = x.cuda().requires_grad_()
    value = mt.mgce(xc, y.cuda(), 1.4, reduction="sum")
    value.backward()
    xh = x.clone().requires_grad_()
    want = mt.mgce(xh, y, 1.4, reduction="sum")
    want.backward()
    tol = {torch.float64: 1e-13, torch.float32: 1e-5, torch.float16: 1e-2}[dtype]
    torch.testing.assert_close(value.cpu(), want, rtol=tol, atol=tol)
    torch.testing.assert_close(xc.grad.cpu(), xh.grad, rtol=tol, atol=tol)
    torch.testing.assert_close(mt.link(x.cuda(), 2.0).cpu(), mt.link(x, 2.0), rtol=tol, atol=tol)


@cuda
def test_cuda_runs_on_a_non_default_stream():
    x, y = _batch(B=4096, C=100, dtype=torch.float32)
    want = mt.mgce(x, y, 2.0, reduction="none")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        xc = torch.empty_like(x, device="cuda").copy_(x, non_blocking=True)  # work queued
        xc.mul_(1.0)
        value = mt.mgce(xc, y.cuda(), 2.0, reduction="none")
        out = value.cpu()
    stream.synchronize()
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)


@cuda
def test_cuda_errors_name_the_row():
    x, y = _batch(B=4, C=3)
    x[3, 0] = math.nan
    with pytest.raises(ValueError, match="logits row 3 contains NaN"):
        mt.mgce(x.cuda(), y.cuda(), 2.0)
