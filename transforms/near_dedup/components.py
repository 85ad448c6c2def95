"""Connected components by alternating large-star / small-star rounds. Beam-free steps.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Nodes are
totally ordered (here: survivor ranks, so a component's minimum is its survivor). Edges are
(smaller, larger) pairs. One round is:

- large-star: every node u with neighbours N(u) links each neighbour v > u to
  m(u) = min(N(u) + {u});
- small-star: every node u with smaller neighbours S(u) (non-empty) links every
  v in S(u) + {u}, v != m, to m = min(S(u)).

Both steps keep each component connected and never join two components (every new edge
links nodes already in one component), and once every component is a star around its
minimum both return the same graph, so running more rounds than needed is harmless. The
alternation converges in O(log^2 n) rounds (the paper's bound; in its experiments and in
ours a handful). A Beam graph cannot loop until nothing changes, so `ConnectedComponents`
unrolls a fixed number of rounds and then checks, node by node, that the graph is a star
forest (`star_labels`): a node is either a root (every neighbour larger) or a leaf (exactly
one neighbour, smaller). If all nodes pass, every leaf's neighbour is a root (a leaf's
neighbour has a larger neighbour, so it cannot be a leaf), hence every component is a star
around its minimum and the labels are exact. If any node fails, the run raises
NotConverged naming the setting to raise: a wrong answer is never written.
"""

from __future__ import annotations

from collections.abc import Iterable


class NotConverged(RuntimeError):
    """The unrolled rounds did not turn the graph into stars; raise `max_rounds`."""


def large_star(node, neighbours: Iterable) -> list[tuple]:
    """Edges a node emits in a large-star step, given all its neighbours."""
    nbrs = set(neighbours)
    m = min(min(nbrs), node)
    return [(m, v) for v in nbrs if v > node]


def small_star(node, smaller: Iterable) -> list[tuple]:
    """Edges a node emits in a small-star step, given its smaller neighbours."""
    nbrs = set(smaller)
    m = min(nbrs)
    return [(m, v) for v in nbrs | {node} if v != m]


def star_labels(node, neighbours: Iterable, rounds: int) -> list[tuple]:
    """(node, component minimum) for a converged star graph; NotConverged otherwise."""
    nbrs = set(neighbours)
    if min(nbrs) > node:
        return [(node, node)]
    if len(nbrs) == 1:
        return [(node, next(iter(nbrs)))]
    raise NotConverged(
        f"connected components did not converge in {rounds} rounds "
        f"(node {node!r} still has {len(nbrs)} neighbours); raise stages.near_dedup.max_rounds"
    )


def normalized(edge: tuple) -> tuple:
    u, v = edge
    return (u, v) if u < v else (v, u)


def run_rounds(edges: Iterable[tuple], rounds: int) -> set[tuple]:
    """The edge set after `rounds` large-star + small-star rounds, in one process (what the
    Beam transform computes, for tests and for choosing `max_rounds`)."""
    current = {normalized(e) for e in edges if e[0] != e[1]}
    for _ in range(rounds):
        adjacency: dict = {}
        for u, v in current:
            adjacency.setdefault(u, []).append(v)
            adjacency.setdefault(v, []).append(u)
        current = {e for u, n in adjacency.items() for e in large_star(u, n)}
        smaller: dict = {}
        for u, v in current:
            smaller.setdefault(v, []).append(u)
        current = {e for u, n in smaller.items() for e in small_star(u, n)}
    return current


def is_star_forest(edges: set[tuple]) -> bool:
    adjacency: dict = {}
    for u, v in edges:
        adjacency.setdefault(u, set()).add(v)
        adjacency.setdefault(v, set()).add(u)
    return all(min(n) > u or len(n) == 1 for u, n in adjacency.items())


def rounds_needed(edges: Iterable[tuple], limit: int = 64) -> int:
    """Fewest rounds after which `edges` is a star forest (<= limit)."""
    current = {normalized(e) for e in edges if e[0] != e[1]}
    for rounds in range(1, limit + 1):
        current = run_rounds(current, 1)
        if is_star_forest(current):
            return rounds
    raise NotConverged(f"not converged in {limit} rounds")
