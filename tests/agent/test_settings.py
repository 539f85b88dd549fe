"""One settings scheme: TOG_<SECTION>_<FIELD> from the environment over a TOML/YAML file, and `tog config`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.config import ToGSettings, setting_names, unknown_variables
from agent.settings_report import effective_settings
from graph.search import Strategy
from tools.model_settings import LLMSettings, VLMSettings

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.upper().startswith("TOG_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_section_follows_one_naming_scheme() -> None:
    names = setting_names()
    for expected in (
        "TOG_AGENT_STRATEGY",
        "TOG_AGENT_DATA_DIR",
        "TOG_ENGINE_BACKEND",
        "TOG_SERVER_PORT",
        "TOG_SERVER_API_KEYS",
        "TOG_VLM_MODEL",
        "TOG_LLM_URL",
    ):
        assert expected in names
    assert all(name.startswith("TOG_") and "__" not in name for name in names)


def test_sections_read_the_environment(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("TOG_AGENT_STRATEGY", "beam")
    clean_environment.setenv("TOG_ENGINE_BACKEND", "ray")
    clean_environment.setenv("TOG_ENGINE_TOOL_TIMEOUTS", '{"caption_image": 60}')
    clean_environment.setenv("TOG_SERVER_API_KEYS", "one, two ,")
    clean_environment.setenv("TOG_VLM_MAX_TILES", "6")
    settings = ToGSettings()
    assert settings.agent.strategy is Strategy.BEAM
    assert settings.engine.backend == "ray" and settings.engine.timeout_for("caption_image") == 60
    assert settings.server.api_keys == ["one", "two"]
    assert settings.vlm.max_tiles == 6


def test_code_wins_over_environment_and_environment_over_file(
    clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    file = tmp_path / "tog.toml"
    file.write_text('[agent]\nstrategy = "greedy"\nmax_depth = 4\ntop_k = 2\n[server]\nport = 9000\n')
    clean_environment.setenv("TOG_CONFIG", str(file))
    clean_environment.setenv("TOG_AGENT_MAX_DEPTH", "3")
    settings = ToGSettings(agent={"top_k": 1})
    assert (settings.agent.strategy, settings.agent.max_depth, settings.agent.top_k) == (Strategy.GREEDY, 3, 1)
    assert settings.server.port == 9000


def test_a_yaml_file_works_and_a_missing_file_is_named(clean_environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "tog.yaml"
    file.write_text("vlm:\n  url: http://127.0.0.1:23333\n")
    clean_environment.setenv("TOG_CONFIG", str(file))
    assert ToGSettings().vlm.url == "http://127.0.0.1:23333"
    assert VLMSettings.from_environment().url == "http://127.0.0.1:23333"  # the tools read the same file
    clean_environment.setenv("TOG_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="missing.toml"):
        ToGSettings()


def test_a_bad_value_in_one_model_section_leaves_the_other_usable(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("TOG_VLM_MAX_TILES", "lots")
    clean_environment.setenv("TOG_LLM_URL", "http://llm:8000")
    assert LLMSettings.from_environment().url == "http://llm:8000"
    with pytest.raises(ValueError, match="max_tiles"):
        VLMSettings.from_environment()


def test_outdated_or_misspelt_variables_are_named_not_ignored(
    clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_environment.setenv("TOG_STRATEGY", "beam")
    clean_environment.setenv("TOG_ENGINE__BACKEND", "ray")
    clean_environment.setenv("TOG_TEST_ARTIFACTS", "/tmp/x")  # read by the tests, not a setting
    assert unknown_variables() == {"TOG_STRATEGY": "TOG_AGENT_STRATEGY", "TOG_ENGINE__BACKEND": "TOG_ENGINE_BACKEND"}
    # A wrong field inside a section is an error (the section is known, so the name is a mistake) ...
    with pytest.raises(ValueError, match="_backend"):
        ToGSettings()
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2 and "TOG_ENGINE__BACKEND=" in result.output and "Traceback" not in result.output
    # ... an unknown name outside every section is a warning that says what was probably meant.
    clean_environment.delenv("TOG_ENGINE__BACKEND")
    with caplog.at_level(logging.WARNING, logger="agent.config"):
        ToGSettings()
    assert "TOG_STRATEGY is not a ToG setting" in caplog.text and "TOG_AGENT_STRATEGY" in caplog.text


def test_effective_settings_name_each_source(clean_environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "tog.toml"
    file.write_text("[agent]\nbeam_width = 7\n")
    clean_environment.setenv("TOG_CONFIG", str(file))
    clean_environment.setenv("TOG_AGENT_MAX_DEPTH", "3")
    clean_environment.setenv("TOG_LLM_API_KEY", "sk-secret")
    rows = {row.name: row for row in effective_settings(agent={"top_k": 1})}
    assert rows["TOG_AGENT_MAX_DEPTH"].source == "env TOG_AGENT_MAX_DEPTH" and rows["TOG_AGENT_MAX_DEPTH"].value == 3
    assert rows["TOG_AGENT_BEAM_WIDTH"].source == f"file {file}" and rows["TOG_AGENT_BEAM_WIDTH"].value == 7
    assert rows["TOG_AGENT_TOP_K"].source == "argument"
    assert rows["TOG_AGENT_STRATEGY"].source == "default" and rows["TOG_AGENT_STRATEGY"].value == "adaptive"
    assert rows["TOG_LLM_API_KEY"].value == "**********"


def test_tog_config_prints_values_and_sources(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("TOG_SERVER_PORT", "9100")
    clean_environment.setenv("TOG_VLM_API_KEY", "sk-secret")
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    assert "sk-secret" not in result.output
    rows = {row["name"]: row for row in json.loads(result.output)["settings"]}
    assert rows["TOG_SERVER_PORT"] == {**rows["TOG_SERVER_PORT"], "value": 9100, "source": "env TOG_SERVER_PORT"}
    table = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "TOG_AGENT_STRATEGY" in table.output


def test_tog_config_reports_a_bad_value_without_a_traceback(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("TOG_SERVER_PORT", "99999")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "TOG_SERVER_PORT=" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "module", ["agent.config", "agent.settings_report", "agent.server.config", "tools.model_settings"]
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
