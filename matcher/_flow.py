"""One b-matching on a graph of candidate pairs, solved exactly as a min-cost flow.

Each pair (i, j) is used at most once, mentee i takes at most ``rcap_i`` pairs,
mentor j at most ``ccap_j``. As a circulation (OR-Tools' min-cost flow, costs
the negated gains)::

    S -> place group of mentee i -> i -> j -> place group of mentor j -> T -> S

a pair arc has capacity 1, a place group ``count`` places worth ``gain`` each
(the plain problem: one group per node, its capacity, gain 0); ``T -> S`` closes
the circulation, so any amount of flow is allowed and only gains attract it.
Gains decreasing along a node's places make the flow fill them in order (the
concave per-place bonus of spread). Floors (the lexicographic levels of
coverage) are node supplies: the mentees' first places are fed by a node ``A``
that must send ``floor_first`` units more than it receives (``F >= floor_first``)
and the mentors' places drain into a node ``Z`` that must keep ``floor_pairs``
(``P >= floor_pairs``); OR-Tools answers INFEASIBLE when they cannot be met.

Integer costs. The min-cost flow takes integer costs: ``round(gain * scale)``
with ``scale`` the largest power of two that keeps every path's cost, hence every
potential, under 2**50 (exact in float64, far from int64 overflow in OR-Tools'
cost scaling, which multiplies costs by the number of nodes). On scores in [0, 1]
and graphs of up to 100k nodes, ``scale >= 2**33``: the flow is exactly optimal
for the rounded gains, and each pair's rounding is at most ``0.5 / scale``, so
over the at most ``P`` pairs (and places) of two matchings the rounded optimum
loses at most ``P / scale`` against the float optimum: 2e-6 for the 60k pairs of
10k x 10k with capacities 2 and 3 (20k nodes, ``scale = 2**35``), far below the
certificate's own tolerance of 1e-6 per pair. The prices below are checked on the
float gains (:mod:`matcher._bmatch`), so the bound and gap it reports are those of
the float problem.

Prices. The flow's node potentials (:func:`matcher._potentials.residual_potentials`)
price every pair, in or out of the graph: ``red_ij = w_ij - pi_i - sigma_j``
with ``pi_i = d_i - d_S`` and ``sigma_j = d_T - d_j``. Any prices give the upper
bound ``base + sum over all usable pairs of max(red_ij, 0)`` (Lagrangian weak
duality, ``base`` the place groups' part), equal to the flow's value on the
graph by complementary slackness; a pair outside the graph with ``red_ij > 0``
is the only way to do better. With floors no prices are returned: floors are
only solved on every usable pair at once, which needs no certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matcher._errors import MatcherError
from matcher._potentials import residual_potentials

__all__ = ["FlowResult", "Places", "Prices", "solve_flow"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Bound on |integer cost| x (nodes + 1): potentials stay exact in float64.
_COST_BUDGET = 2.0**50


@dataclass(frozen=True, eq=False)
class Places:
    """Place groups of one side: ``count`` places of ``node`` worth ``gain`` each.

    A node's groups must cover its capacity; ``first`` marks the groups counted
    by ``floor_first`` (a mentee's first place).
    """

    node: IntArray
    gain: FloatArray
    count: IntArray
    first: BoolArray


@dataclass(frozen=True, eq=False)
class Prices:
    """Mentee prices ``pi``, mentor prices ``sigma`` and the bound's place part ``base``."""

    pi: FloatArray
    sigma: FloatArray
    base: float


@dataclass(frozen=True, eq=False)
class FlowResult:
    """The optimum on the graph: ``chosen`` edges, ``value`` (pairs plus place gains),
    and its prices (None with floors)."""

    chosen: BoolArray
    value: float
    prices: Prices | None


def uniform_places(cap: IntArray) -> Places:
    """One group per node with places: its capacity, gain 0."""
    nodes = np.flatnonzero(cap > 0).astype(np.int64)
    return Places(nodes, np.zeros(nodes.size), cap[nodes], np.zeros(nodes.size, np.bool_))


def _scale(gains: list[FloatArray], n_nodes: int) -> float:
    top = max((float(np.abs(g).max()) for g in gains if g.size), default=0.0)
    if top == 0.0:
        return 1.0
    return float(2.0 ** np.floor(np.log2(_COST_BUDGET / (top * (n_nodes + 1)))))


@dataclass(frozen=True, eq=False)
class _Network:
    """The circulation's arcs: pairs first, then mentee groups, mentor groups, and
    the three fixed arcs ``S -> A``, ``Z -> T``, ``T -> S``."""

    tail: IntArray
    head: IntArray
    cap: IntArray
    cost: IntArray
    n_nodes: int


def _network(
    ei: IntArray,
    ej: IntArray,
    cost: list[IntArray],
    rp: Places,
    cp: Places,
    n: int,
    m: int,
    floor_first: bool,
) -> _Network:
    s_node, t_node, a_node, z_node = n + m, n + m + 1, n + m + 2, n + m + 3
    big = int(rp.count.sum() + cp.count.sum()) + 1
    row_tail = np.where(rp.first & floor_first, a_node, s_node)
    tail = [ei, row_tail, n + cp.node, np.array([s_node, z_node, t_node])]
    head = [n + ej, rp.node, np.full(cp.node.size, z_node), np.array([a_node, t_node, s_node])]
    cap = [np.ones(ei.size, np.int64), rp.count, cp.count, np.full(3, big)]
    return _Network(
        np.concatenate(tail).astype(np.int64),
        np.concatenate(head).astype(np.int64),
        np.concatenate(cap).astype(np.int64),
        np.concatenate([*cost, np.zeros(3, np.int64)]),
        n + m + 4,
    )


def _run(net: _Network, floor_first: int, floor_pairs: int) -> IntArray | None:
    """The optimal flow per arc (None: the floors cannot be met)."""
    # Imported here: `import matcher` stays light (OR-Tools takes ~0.2 s to load).
    from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(net.tail, net.head, net.cap, net.cost)
    supply = np.zeros(net.n_nodes, np.int64)
    s_node, t_node, a_node, z_node = range(net.n_nodes - 4, net.n_nodes)
    supply[[a_node, s_node, z_node, t_node]] = [
        floor_first,
        -floor_first,
        -floor_pairs,
        floor_pairs,
    ]
    mcf.set_nodes_supplies(np.arange(net.n_nodes), supply)
    status = mcf.solve()
    if status == mcf.INFEASIBLE:
        return None
    if status != mcf.OPTIMAL:
        raise MatcherError(f"the b-matching min-cost flow failed with status {status!r}")
    return np.asarray(mcf.flows(arcs), dtype=np.int64)


def _prices(
    net: _Network, flow: IntArray, scale: float, rp: Places, cp: Places, n: int, m: int
) -> Prices:
    d = residual_potentials(net.n_nodes, net.tail, net.head, net.cost, net.cap, flow)
    s_node, t_node = n + m, n + m + 1
    pi = (d[:n] - d[s_node]).astype(np.float64) / scale
    sigma = (d[t_node] - d[n : n + m]).astype(np.float64) / scale
    # A node without flow may take any price up to minus its best place gain (its
    # pairs and places are all unused): the highest such price prices its pairs
    # outside the graph the least, without moving the bound.
    through = np.bincount(net.head, weights=flow, minlength=net.n_nodes)
    pi = _raise_idle(pi, rp, through[:n] == 0)
    sigma = _raise_idle(sigma, cp, through[n : n + m] == 0)
    base = float(rp.count @ np.maximum(rp.gain + pi[rp.node], 0.0))
    base += float(cp.count @ np.maximum(cp.gain + sigma[cp.node], 0.0))
    return Prices(pi, sigma, base)


def _raise_idle(price: FloatArray, places: Places, idle: BoolArray) -> FloatArray:
    top = np.full(price.size, -np.inf)
    np.maximum.at(top, places.node, places.gain)
    up = idle & np.isfinite(top)
    return np.where(up, np.maximum(price, -top), price)


def solve_flow(
    ei: IntArray,
    ej: IntArray,
    ew: FloatArray,
    rcap: IntArray,
    ccap: IntArray,
    *,
    row_places: Places | None = None,
    col_places: Places | None = None,
    floor_first: int | None = None,
    floor_pairs: int | None = None,
) -> FlowResult | None:
    """Max-weight b-matching of the edges ``(ei, ej, ew)``, each used at most once.

    Parameters
    ----------
    ei, ej : ndarray of int64, shape (n_edges,)
        Mentee and mentor of each edge (no edge twice).
    ew : ndarray of float64, shape (n_edges,)
        Edge weights.
    rcap, ccap : ndarray of int64, shapes (n_mentees,), (n_mentors,)
        Places of each mentee and mentor (the default place groups).
    row_places, col_places : Places, optional
        Place groups with gains, instead of one group of gain 0 per node.
    floor_first, floor_pairs : int, optional
        At least this many first mentee places filled, pairs chosen.

    Returns
    -------
    FlowResult or None
        None when the floors cannot be met on these edges.
    """
    n, m = rcap.size, ccap.size
    rp = row_places if row_places is not None else uniform_places(rcap)
    cp = col_places if col_places is not None else uniform_places(ccap)
    scale = _scale([ew, rp.gain, cp.gain], n + m + 4)
    cost = [-np.rint(g * scale).astype(np.int64) for g in (ew, rp.gain, cp.gain)]
    net = _network(ei, ej, cost, rp, cp, n, m, floor_first is not None)
    flow = _run(net, floor_first or 0, floor_pairs or 0)
    if flow is None:
        return None
    e, g = ei.size, rp.node.size
    chosen = flow[:e] > 0
    value = float(ew[chosen].sum() + rp.gain @ flow[e : e + g] + cp.gain @ flow[e + g : -3])
    floors = floor_first is not None or floor_pairs is not None
    prices = None if floors else _prices(net, flow, scale, rp, cp, n, m)
    return FlowResult(chosen, value, prices)
