"""The record's work stays at the record steps: XLA must not move it into the step loop.

``train.run`` evaluates the full-data loss and the observables inside a ``while_loop`` that runs
only when a record is due. That work depends only on values the loop leaves unchanged, so XLA's
loop-invariant code motion used to hoist it out of that loop and into the step loop, where it ran
at every step (the anchor Transformer's 20k-sequence record made each step 1.3 s instead of
11 ms). Timing is not a test, so this checks the compiled program's structure instead: every
copy of an observer's distinctive op that sits inside the step loop must sit inside a loop nested
in it (the record loop), never directly in the step loop's body.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phasekit.dynamics import train

N, BATCH, PROBES, D, K = 37, 19, 41, 5, 3  # distinct sizes: each dot's shape names its origin


def _computations(hlo: str) -> tuple[dict, dict]:
    """(the HLO text of each computation, {child computation: parent computation, 'while' or
    'call'})."""
    bodies, parent, name = {}, {}, None
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\{\s*$", line)
        if head:
            name, bodies[head.group(1)] = head.group(1), []
        elif name is not None:
            bodies[name].append(line)
    for comp, lines in bodies.items():
        for line in lines:
            for m in re.finditer(r"body=%?([\w.\-]+)", line):
                parent[m.group(1)] = (comp, "while")
            for m in re.finditer(r"(?:calls|to_apply|condition)=%?([\w.\-]+)", line):
                parent.setdefault(m.group(1), (comp, "call"))
            for m in re.finditer(r"(?:branch_computations|called_computations)=\{([^}]*)\}", line):
                for c in re.findall(r"%?([\w.\-]+)", m.group(1)):
                    parent.setdefault(c, (comp, "call"))
    return {k: "\n".join(v) for k, v in bodies.items()}, parent


def _while_bodies(comp: str, parent: dict) -> list[str]:
    """The while bodies enclosing ``comp``, innermost first."""
    out = []
    while comp in parent:
        up, kind = parent[comp]
        if kind == "while":
            out.append(comp)
        comp = up
    return out


def _holding(bodies: dict, shape: tuple[int, int]) -> list[str]:
    a, b = shape
    pat = re.compile(rf"= f32\[({a},{b}|{b},{a})\]")
    return [c for c, text in bodies.items() if pat.search(text)]


def record_placement(run=train.run):
    """(innermost while body of each copy of the observer's op, the step loop's body)."""
    x = jax.random.normal(jax.random.key(0), (N, D))
    y = jax.random.normal(jax.random.key(1), (N, K))
    probe = jax.random.normal(jax.random.key(2), (PROBES, D))
    w0 = {"w": jax.random.normal(jax.random.key(3), (D, K)) / np.sqrt(D)}

    def loss(p, batch):
        xb, yb = batch
        return 0.5 * jnp.mean(jnp.sum((jnp.tanh(xb @ p["w"]) - yb) ** 2, -1))

    def observe(p):
        return {"probe": jnp.sum(jnp.sin(probe @ p["w"]))}

    def go(w):
        return run(
            loss,
            w,
            (x, y),
            optax.adam(1e-2),
            steps=50,
            n_records=3,
            schedule="linear",
            observe=observe,
            batch_size=BATCH,
            key=jax.random.key(4),
        ).observables["probe"]

    bodies, parent = _computations(jax.jit(go).lower(w0).compile().as_text())
    steps = [_while_bodies(c, parent) for c in _holding(bodies, (BATCH, K))]
    step_body = next(chain[0] for chain in steps if chain)
    obs = [_while_bodies(c, parent) for c in _holding(bodies, (PROBES, K))]
    return [chain[0] if chain else None for chain in obs if step_body in chain], step_body


def test_observables_and_full_loss_are_not_hoisted_into_the_step_loop():
    inner, step_body = record_placement()
    assert inner, "the observer's op is not inside the step loop at all (the test lost its marker)"
    assert all(c != step_body for c in inner), (
        "the record's work was hoisted into the step loop: it runs at every step"
    )


def test_records_still_hold_the_observables_at_the_record_steps():
    """The barrier changes where the record is computed, not what it holds: a record equals the
    observer applied to the parameters of a run stopped at that step."""
    x = jax.random.normal(jax.random.key(0), (N, D))
    y = jax.random.normal(jax.random.key(1), (N, K))
    w0 = {"w": jax.random.normal(jax.random.key(3), (D, K)) / np.sqrt(D)}
    loss = lambda p, b: 0.5 * jnp.mean(jnp.sum((b[0] @ p["w"] - b[1]) ** 2, -1))
    observe = lambda p: {"norm": jnp.sum(p["w"] ** 2)}
    full = train.run(
        loss, w0, (x, y), optax.sgd(0.1), steps=20, record_at=[0, 10, 20], observe=observe
    )
    short = train.run(
        loss, w0, (x, y), optax.sgd(0.1), steps=10, record_at=[0, 10], observe=observe
    )
    np.testing.assert_array_equal(full.observables["norm"][:2], short.observables["norm"])
    np.testing.assert_array_equal(full.loss[:2], short.loss)
    np.testing.assert_allclose(
        short.observables["norm"][-1], jnp.sum(short.params["w"] ** 2), rtol=1e-6
    )
