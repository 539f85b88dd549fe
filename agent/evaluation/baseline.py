"""The retrieval baseline every planning figure is read against: for each request, the k tools whose
descriptions are most similar to the whole request (MiniLM cosine), no edges.

A planner that cannot beat "pick the nearest tool descriptions" adds nothing, so ``tog eval plans
--baseline`` prints these figures for k = 1..3 in the same run, on the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from agent.evaluation.dataset import PlanSample
from agent.evaluation.metrics import match, micro_f1
from graph.assessors import tool_text
from graph.embedding import Embedder, shared_embedder
from graph.spec import ToolSpec

KS = (1, 2, 3)


class BaselineScores(BaseModel):
    k: int
    node_f1: float
    edge_f1: float


def retrieval_baseline(
    samples: Sequence[PlanSample], specs: Sequence[ToolSpec], embedder: Embedder | None = None, ks: Sequence[int] = KS
) -> list[BaselineScores]:
    """Node and edge F1 (micro) of predicting the top-k tools by request–description similarity."""
    if not samples or not specs:
        return [BaselineScores(k=k, node_f1=0.0, edge_f1=0.0) for k in ks]
    embedder = embedder or shared_embedder()
    tools = np.asarray(embedder.encode([tool_text(s) for s in specs]))
    requests = np.asarray(embedder.encode([s.request for s in samples]))
    order = np.argsort(-(requests @ tools.T), axis=1, kind="stable")
    scores = []
    for k in ks:
        nodes, edges = [], []
        for sample, ranked in zip(samples, order):
            predicted = [specs[int(i)].name for i in ranked[:k]]
            nodes.append(match(predicted, sample.gold.nodes))
            edges.append(match([], sample.gold.edges))
        scores.append(BaselineScores(k=k, node_f1=micro_f1(nodes), edge_f1=micro_f1(edges)))
    return scores
