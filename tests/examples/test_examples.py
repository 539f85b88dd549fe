from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_plan_with_python_example_finds_the_expected_chains(monkeypatch):
    monkeypatch.setenv("TOG_AGENT_ASSESSOR", "uniform")
    module = runpy.run_path(str(EXAMPLES / "plan_with_python.py"))
    chains = module["main"]()
    assert ["blur_regions"] in chains
    assert ["Image Captioner", "Speaker"] in chains
    # Translating the caption before speaking it is a detour nobody asked for: the search no longer offers it.
    assert ["Image Captioner", "Translator", "Speaker"] not in chains


def test_example_plans_over_controlllm_catalogue(monkeypatch, catalogues):
    monkeypatch.setenv("TOG_AGENT_ASSESSOR", "uniform")
    module = runpy.run_path(str(EXAMPLES / "plan_with_python.py"))
    chains = module["main"](str(catalogues / "controlllm_tools.json"))
    assert ["image_captioning", "text_to_speech"] in chains
