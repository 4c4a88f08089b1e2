"""Premise of the dropout-flatness experiment: comparing lambda_max across dropout rates is not a
rescaling artifact.

A ReLU neuron j is invariant under a_j -> c a_j, (w_j, b_j) -> (w_j, b_j) / c, and dropout multiplies
h_j by a mask that does not depend on the weights, so every *masked* loss keeps the symmetry. Hence
its gradient is orthogonal to the generator of the rescaling,

    sum_k a_jk dL/da_jk - sum_i w_ij dL/dw_ij - b_j dL/db_j = 0   for every neuron j and every mask,

so |a_j|^2 - |w_j|^2 - b_j^2 is conserved by gradient flow on the dropout loss exactly as on the
plain loss: runs from one init keep their layer balance. lambda_max itself is *not* invariant under
the rescaling (Dinh et al. 2017), which is why the balance matters.
"""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import dropout
from phasekit.models import mlp
from phasekit.theory import hessian


def _setup():
    k0, k1, k2 = jax.random.split(jax.random.key(0), 3)
    params = mlp.init(k0, [3, 6, 2], scheme="he", bias_std=0.5)
    x = jax.random.normal(k1, (7, 3))
    y = jax.random.normal(k2, (7, 2))
    return params, x, y


def _rescale(params, j, c):
    first = {"w": params[0]["w"].at[:, j].divide(c), "b": params[0]["b"].at[j].divide(c)}
    return [first, {**params[1], "w": params[1]["w"].at[j].multiply(c)}]


def test_masked_loss_is_rescaling_invariant_and_its_gradient_conserves_the_balance():
    params, x, y = _setup()
    loss = dropout.mse(dropout.mlp_apply, 0.7)
    key = jax.random.key(3)
    L = loss(params, (x, y), key)
    np.testing.assert_allclose(loss(_rescale(params, 2, 3.0), (x, y), key), L, rtol=1e-5)
    for k in range(4):  # several masks
        g = jax.grad(loss)(params, (x, y), jax.random.key(10 + k))
        generator = (
            jnp.sum(params[1]["w"] * g[1]["w"], axis=1)
            - jnp.sum(params[0]["w"] * g[0]["w"], axis=0)
            - params[0]["b"] * g[0]["b"]
        )
        scale = jnp.sum(jnp.abs(params[1]["w"] * g[1]["w"]), axis=1) + 1e-3
        np.testing.assert_allclose(generator / scale, 0.0, atol=1e-4)


def test_sharpness_is_not_rescaling_invariant():
    params, x, y = _setup()
    clean = dropout.mse(dropout.mlp_apply, 1.0)
    clean_loss = lambda q, data: clean(q, data, None)
    M = sum(a.size for a in jax.tree_util.tree_leaves(params))
    lam = lambda q: float(hessian.top_eigenvalues(clean_loss, q, (x, y), num_steps=M)[0])
    moved = _rescale(_rescale(params, 0, 4.0), 1, 4.0)
    np.testing.assert_allclose(clean_loss(moved, (x, y)), clean_loss(params, (x, y)), rtol=1e-5)
    assert lam(moved) > 1.5 * lam(params)


def test_control_gradient_is_the_mask_average_of_the_dropout_gradient():
    """The control of the flatness experiment: grad (R_S + R_1) = E_eta grad R_S^drop (dropout after
    the last hidden layer), so GD on mean_mse is dropout's GD without the mask noise."""
    with jax.enable_x64(True):
        p = 0.7
        k0, k1, k2 = jax.random.split(jax.random.key(4), 3)
        params = mlp.init(k0, [3, 5, 2], scheme="he", bias_std=0.3, dtype=jnp.float64)
        x = jax.random.normal(k1, (6, 3), jnp.float64)
        y = jax.random.normal(k2, (6, 2), jnp.float64)
        noisy = dropout.mse(dropout.mlp_apply, p)
        mean = dropout.mean_mse(mlp.apply, dropout.mlp_regularizer, p)
        exact = jax.flatten_util.ravel_pytree(jax.grad(mean)(params, (x, y)))[0]
        keys = jax.random.split(jax.random.key(9), 40_000)
        flat = lambda k: jax.flatten_util.ravel_pytree(jax.grad(noisy)(params, (x, y), k))[0]
        draws = np.asarray(jax.jit(jax.vmap(flat))(keys))
        se = draws.std(0, ddof=1) / np.sqrt(len(keys))
        assert np.max(np.abs(draws.mean(0) - np.asarray(exact)) / (se + 1e-12)) < 5.0
        clean = jax.flatten_util.ravel_pytree(
            jax.grad(lambda q: dropout.mse(dropout.mlp_apply, 1.0)(q, (x, y), None))(params)
        )[0]
        assert (
            np.max(np.abs(np.asarray(exact - clean)) / (se + 1e-12)) > 20
        )  # R_1's gradient is resolved
