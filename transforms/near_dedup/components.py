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
unrolls a fixed number of rounds and then settles the graph node by node (`settle`): a node
is a root (every neighbour larger), a leaf (exactly one neighbour, smaller) or unsettled.

Where every node is a root or a leaf, every leaf's neighbour is a root (a leaf's neighbour
has a larger neighbour, so it cannot be a leaf): each component is a star around its
minimum, and the labels are exact. What is left, the edges of unsettled nodes, is finished
on one worker (`component_minima`, union-find; usually nothing is left). That remainder
holds every unsettled component whole: an edge between two settled nodes joins a root to a
leaf whose only edge it is, so it cannot link two parts of one. Its leaves take their
root's label (`labels`). The answer is exact whatever the number of rounds; the rounds
only decide how much is left for one worker.
"""

from __future__ import annotations

from collections.abc import Iterable

UNSETTLED = None  # the key `settle` gives an unsettled node's edges (nodes are never None)


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


def settle(node, neighbours: Iterable) -> list[tuple]:
    """After the rounds, one node given all its neighbours: a root -> [(node, None)]; a leaf
    -> [(its neighbour, node)] (keyed by its root); unsettled -> [(UNSETTLED, edge)] for
    each of its edges, to finish on one worker."""
    nbrs = set(neighbours)
    if min(nbrs) > node:
        return [(node, None)]
    if len(nbrs) == 1:
        return [(next(iter(nbrs)), node)]
    return [(UNSETTLED, normalized((node, v))) for v in nbrs]


def component_minima(edges: Iterable[tuple]) -> list[tuple]:
    """(node, its component's minimum) for every node on `edges`, in one process."""
    parent: dict = {}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = root(u), root(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)  # the smaller root stays: roots are minima
    return [(n, root(n)) for n in parent]


def labels(node, settled: Iterable, finished: Iterable) -> list[tuple]:
    """(node, component minimum) for `node` and the leaves that hang on it, given what
    `settle` keyed by it (None: it is a root; other values: its leaves) and its label from
    the finished remainder, if it is in it. A leaf of an unsettled node is in the remainder
    and labelled there; an unsettled node gets its label there."""
    settled, finished = list(settled), list(finished)
    if None in settled:
        label = finished[0] if finished else node
        return [(node, label)] + [(leaf, label) for leaf in settled if leaf is not None]
    return [(node, finished[0])] if finished else []


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
    """Fewest rounds after which `edges` is a star forest (ValueError past `limit`)."""
    current = {normalized(e) for e in edges if e[0] != e[1]}
    for rounds in range(1, limit + 1):
        current = run_rounds(current, 1)
        if is_star_forest(current):
            return rounds
    raise ValueError(f"not a star forest after {limit} rounds")
