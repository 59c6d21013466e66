"""mgce_ref.torch.compat.mgce_loss: a drop-in for MRCpy's mgce_loss.

MRCpy's documented usage must run with only the import line changed (the text below is copied
from its documentation), give MRCpy's numbers where MRCpy is right (its bisection stops at
interval width 1e-4, so nu carries up to ~5e-5 error: compared to 1e-3) and the right answers
where it is not (beta = 1 link, beta = inf, constant rows).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import mgce_ref  # noqa: E402
from mgce_ref.torch.compat import mgce_loss  # noqa: E402

MRCPY_IMPORT = "from MRCpy.pytorch.mgce.loss import mgce_loss"
OURS_IMPORT = "from mgce_ref.torch.compat import mgce_loss"

# MRCpy 3.0.0's documentation of mgce_loss (class docstring), verbatim but for the prompts.
DOCUMENTED_LOOP = """\
import torch
from MRCpy.pytorch.mgce.loss import mgce_loss

# Initialize with beta=1.4
loss_fn = mgce_loss(num_classes=3, beta=1.4)

# In training loop
logits = model(inputs)  # Shape: (batch_size, num_classes)
labels = targets       # Shape: (batch_size,)

# Compute gradients for backpropagation
gradients, loss_value = loss_fn.get_gradient(logits, labels)

# Backpropagate using computed gradients
logits.backward(gradients)
"""
DOCUMENTED_VALIDATION = """\
# Compute loss and probabilities
loss_val, probabilities = loss_fn.get_loss_value(logits, labels, reg_val=0.0)
predicted_classes = torch.argmax(probabilities, dim=1)
"""
# The method examples of the same page.
DOCUMENTED_METHODS = """\
loss_fn = mgce_loss(num_classes=3, beta=1.4)
logits = torch.randn(32, 3, requires_grad=True)
labels = torch.randint(0, 3, (32,))

gradients, loss = loss_fn.get_gradient(logits, labels)
logits.backward(gradients)  # Backpropagate

loss_fn = mgce_loss(num_classes=3, beta=1.4)
logits = torch.randn(32, 3)
labels = torch.randint(0, 3, (32,))
reg_val = 0.01

loss, probs = loss_fn.get_loss_value(logits, labels, reg_val)
predicted_classes = torch.argmax(probs, dim=1)

loss_fn = mgce_loss(num_classes=3, beta=1.4)
logits = torch.randn(32, 3)

probabilities = loss_fn.get_probs(logits)
predicted_classes = torch.argmax(probabilities, dim=1)
confidence_scores = torch.max(probabilities, dim=1)[0]
"""


def _mrcpy_class():
    peers = pytest.importorskip("mgce_ref.peers")
    try:
        return peers.load_mrcpy_loss().mgce_loss
    except ImportError as exc:
        pytest.skip(str(exc))


def _train(text, namespace, steps=5):
    """Run the documented loop ``steps`` times, with the optimizer step the page leaves to the
    user; returns the namespace and the losses seen."""
    model = namespace["model"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        exec(text, namespace)
        losses.append(float(namespace["loss_value"].detach()))  # MRCpy's has a graph
        optimizer.step()
    exec(DOCUMENTED_VALIDATION, namespace)
    return namespace, losses


def _namespace(seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 5, generator=g)
    targets = (inputs[:, 0] > 0.3).long() + (inputs[:, 1] > 0.5).long()  # 3 classes, learnable
    torch.manual_seed(seed)
    return {"model": torch.nn.Linear(5, 3), "inputs": inputs, "targets": targets}


def test_documented_loop_runs_with_only_the_import_changed():
    assert DOCUMENTED_LOOP.count(MRCPY_IMPORT) == 1
    ours = DOCUMENTED_LOOP.replace(MRCPY_IMPORT, OURS_IMPORT)
    ns, losses = _train(ours, _namespace())
    assert type(ns["loss_fn"]) is mgce_loss
    assert losses[-1] < losses[0]  # it trains
    assert ns["probabilities"].shape == (64, 3)
    torch.testing.assert_close(ns["probabilities"].sum(1), torch.ones(64))
    exec(DOCUMENTED_METHODS, {"torch": torch, "mgce_loss": mgce_loss})


def test_documented_loop_gives_mrcpys_numbers():
    mrcpy = _mrcpy_class()
    ours_ns, ours = _train(DOCUMENTED_LOOP.replace(MRCPY_IMPORT, OURS_IMPORT), _namespace())
    # MRCpy/__init__ imports cvxpy and gurobipy: its loss module is loaded by file location.
    theirs_text = DOCUMENTED_LOOP.replace(MRCPY_IMPORT, "")
    theirs_ns = _namespace()
    theirs_ns["mgce_loss"] = mrcpy
    theirs_ns, theirs = _train(theirs_text, theirs_ns)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    for a, b in zip(ours_ns["model"].parameters(), theirs_ns["model"].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(ours_ns["probabilities"], theirs_ns["probabilities"], rtol=1e-3,
                               atol=1e-4)
    torch.testing.assert_close(ours_ns["loss_val"], theirs_ns["loss_val"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("beta", [1.0, 1.02, 1.4, 2.0, 11.0])
def test_get_gradient_is_mrcpys_where_mrcpy_is_right(beta):
    mrcpy = _mrcpy_class()(num_classes=6, beta=beta)
    ours = mgce_loss(num_classes=6, beta=beta)
    g = torch.Generator().manual_seed(1)
    logits = 2.0 * torch.randn(40, 6, generator=g)
    labels = torch.randint(0, 6, (40,), generator=g)
    grad, value = ours.get_gradient(logits, labels)
    grad_m, value_m = mrcpy.get_gradient(logits, labels)
    assert grad.dtype == logits.dtype and value.shape == ()
    torch.testing.assert_close(grad, grad_m, rtol=0, atol=1e-3 / 40)
    torch.testing.assert_close(value, value_m.detach(), rtol=1e-4, atol=1e-4)
    want_loss, want_grad = mgce_ref.loss_and_grad(logits.numpy(), labels.numpy(), beta)
    torch.testing.assert_close(grad, torch.from_numpy(want_grad) / 40)
    assert value.item() == pytest.approx(want_loss.mean(), rel=1e-6)
    total, probs = ours.get_loss_value(logits, labels, reg_val=0.25)
    assert total.item() == pytest.approx(value.item() + 0.25, rel=1e-6)
    assert torch.equal(probs, ours.get_probs(logits))
    if beta > 1:  # MRCpy's get_probs is the link for beta > 1 (not at beta = 1)
        torch.testing.assert_close(probs, mrcpy.get_probs(logits), rtol=0, atol=1e-3)


def _sparsemax(h):
    z, _ = torch.sort(h, dim=-1, descending=True)
    k = torch.arange(1, h.shape[-1] + 1, dtype=h.dtype)
    tau = ((z.cumsum(-1) - 1) / k).max(-1, keepdim=True).values
    return (h - tau).clamp(min=0)


def test_beta_one_link_is_sparsemax():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(30, 5, generator=g, dtype=torch.float64)
    p = mgce_loss(num_classes=5, beta=1.0).get_probs(logits)
    torch.testing.assert_close(p, _sparsemax(logits), rtol=0, atol=1e-15)


def test_beta_inf_is_cross_entropy():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(30, 5, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (30,), generator=g)
    fn = mgce_loss(num_classes=5, beta=math.inf)
    grad, value = fn.get_gradient(logits, labels)
    ce = F.cross_entropy(logits, labels)
    (want,) = torch.autograd.grad(ce, logits)
    torch.testing.assert_close(value, ce.detach(), rtol=1e-15, atol=0)
    torch.testing.assert_close(grad, want, rtol=1e-14, atol=1e-17)
    torch.testing.assert_close(fn.get_probs(logits), torch.softmax(logits.detach(), -1),
                               rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("beta", [1.0, 1.4, 11.0, math.inf])
def test_constant_rows_are_an_answer(beta):
    logits = torch.full((3, 4), 2.5)
    labels = torch.tensor([0, 1, 3])
    fn = mgce_loss(num_classes=4, beta=beta)
    grad, value = fn.get_gradient(logits, labels)
    want = (torch.full((3, 4), 0.25) - F.one_hot(labels, 4)) / 3
    torch.testing.assert_close(grad, want)
    assert math.isfinite(value.item())
    torch.testing.assert_close(fn.get_probs(logits), torch.full((3, 4), 0.25))


def test_float64_and_half_logits():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(8, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (8,), generator=g)
    grad, value = mgce_loss(4, beta=2.0).get_gradient(logits, labels)
    assert grad.dtype == value.dtype == torch.float64  # no default-dtype juggling needed
    grad16, _ = mgce_loss(4, beta=2.0).get_gradient(logits.half(), labels)
    assert grad16.dtype == torch.float16


def test_bad_input_is_refused_clearly():
    fn = mgce_loss(num_classes=3, beta=1.4)
    logits = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"labels\[2\] = 3 is out of range for 3 classes"):
        fn.get_gradient(logits, torch.tensor([0, 1, 3, 0]))
    logits[1, 2] = math.nan
    with pytest.raises(ValueError, match="logits row 1 contains NaN"):
        fn.get_probs(logits)
    with pytest.raises(ValueError, match="logits have 3 columns but num_classes = 4"):
        mgce_loss(num_classes=4).get_probs(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="beta = 0.5 is below 1"):
        mgce_loss(num_classes=3, beta=0.5)
