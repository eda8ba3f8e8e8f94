"""Node potentials of an optimal flow, by shortest paths on its residual graph.

OR-Tools' min-cost flow returns flows but no duals. An optimal flow has no
negative-cost cycle in its residual graph, so shortest-path distances ``d`` from a
virtual root (an arc of cost 0 to every node) exist, and every residual arc
``u -> v`` of cost ``c`` has ``c + d_u - d_v >= 0``: ``d`` are optimal node
potentials (complementary slackness on every arc).

The distances come from Bellman-Ford relaxation, vectorized over the arcs: one
NumPy pass over all residual arcs per round, ``d_v = min(d_v, d_u + c)``, until
nothing changes. The costs are integers, so the distances are exact. Rounds are
at most the number of arcs on the longest shortest path (tens on matching graphs).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from matcher._errors import MatcherError

__all__ = ["residual_potentials"]

IntArray = NDArray[np.int64]


def residual_potentials(
    n_nodes: int, tail: IntArray, head: IntArray, cost: IntArray, cap: IntArray, flow: IntArray
) -> IntArray:
    """Shortest-path distances from a virtual root on the residual graph of ``flow``.

    Parameters
    ----------
    n_nodes : int
        Nodes are ``0 .. n_nodes - 1``.
    tail, head, cost, cap, flow : ndarray of int64, shape (n_arcs,)
        The arcs, their integer unit costs, capacities and an optimal flow.

    Returns
    -------
    ndarray of int64, shape (n_nodes,)
        ``d`` with ``cost + d[tail] - d[head] >= 0`` on every arc with room
        (``flow < cap``) and ``<= 0`` on every arc with flow.

    Raises
    ------
    MatcherError
        If the residual graph has a negative cycle (the flow was not optimal).
    """
    fwd = flow < cap
    back = flow > 0
    u = np.concatenate([tail[fwd], head[back]])
    v = np.concatenate([head[fwd], tail[back]])
    c = np.concatenate([cost[fwd], -cost[back]])
    # Only negative arcs can lower a distance from 0 at the first round; after that,
    # only arcs leaving a node lowered in the previous round.
    d = np.zeros(n_nodes, np.int64)
    changed = np.ones(n_nodes, np.bool_)
    for _ in range(n_nodes + 1):
        live = changed[u]
        lu, lv = u[live], v[live]
        cand = d[lu] + c[live]
        better = cand < d[lv]
        if not better.any():
            return d
        before = d.copy()
        np.minimum.at(d, lv[better], cand[better])
        changed = d < before
    raise MatcherError("the min-cost flow was not optimal: its residual graph has a negative cycle")
