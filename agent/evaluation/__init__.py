"""Planning evaluation: how well a decomposer + ToG planner turn requests into the right tool graphs.

``tests/data/plans.jsonl`` is our hand-written set over the built-in toolbox (``tog eval plans``).
Its gold graphs follow these annotation rules, so that each request has one defensible answer:

* the gold graph is the most direct plan a careful person would write with this toolbox; a tool is one
  node, edges are data flow between tools (the user's files are not nodes);
* categories ("the dogs", "all cars") -> ``detect_objects``; one described thing ("the woman in the
  yellow raincoat", "the white van") -> ``ground_phrase``; faces -> ``detect_faces``;
* "how many X are in the picture" -> ``count_objects``; counting what was detected or marked in the same
  request (or faces) -> the detector then ``count_boxes``;
* printed text -> ``read_text``; handwriting -> ``transcribe_image_text``; text with positions or boxes
  -> ``ocr_text_lines``;
* a question about a receipt, invoice, form, chart or screenshot -> ``answer_document_question``; about
  any other picture -> ``answer_image_question``;
* a short caption or alt text -> ``caption_image``; a detailed description -> ``describe_image``;
* an open request about a video ("what happens in this clip?") -> ``caption_video``; a specific question
  about it -> ``answer_video_question``;
* plain transcription -> ``speech_to_text``; timestamps or subtitles -> ``transcribe_audio``;
* a step the user spells out is a step ("detect the people and tell me how many" is two tools).

``kind`` is the gold graph's shape: ``single`` (one tool), ``chain`` (one path) or ``dag`` (branches,
joins or independent parts); the loader checks that the two agree.
"""

from __future__ import annotations

from agent.evaluation.callgraph import CallGraph
from agent.evaluation.dataset import DatasetError, PlanSample, check_tools, load_samples
from agent.evaluation.run import EvalReport, evaluate

__all__ = ["CallGraph", "DatasetError", "EvalReport", "PlanSample", "check_tools", "evaluate", "load_samples"]
