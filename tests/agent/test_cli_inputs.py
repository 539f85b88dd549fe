"""User mistakes with files and output paths (issue 17 item 6): one line naming the user's path, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import agent.api
from agent.api import Agent, InputFileError
from agent.cli import app
from agent.config import ToGSettings
from agent.samples import make_sample_photo
from graph.plan import Plan

runner = CliRunner()


class Echo:
    """Counts the words of the first text resource it is given (so a test sees what the text was)."""

    def __init__(self) -> None:
        self.seen: list = []

    def decompose(self, request, resources=()):
        self.seen = list(resources)
        return Plan.parse(
            {
                "request": request,
                "subtasks": [
                    {
                        "id": 0,
                        "description": "count the words",
                        "args": [r.ref().model_dump() for r in resources],
                        "returns": [{"type": "number"}],
                    }
                ],
            }
        )


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Echo:
    decomposer = Echo()
    monkeypatch.setattr(agent.api, "default_decomposer", lambda settings: decomposer)
    monkeypatch.setenv("TOG_AGENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TOG_AGENT_ASSESSOR", "uniform")
    monkeypatch.chdir(tmp_path)
    return decomposer


def _error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error:" in result.output
    assert ".tmp" not in result.output and "put-" not in result.output  # never a path inside the store
    return " ".join(result.output.split())


def test_graph_out_with_a_wrong_extension_or_unwritable_path(tmp_path: Path) -> None:
    assert "must end in .png or .svg" in _error(["graph", "--out", str(tmp_path / "g.txt")])
    (tmp_path / "afile").write_text("x")
    assert "afile" in _error(["graph", "--out", str(tmp_path / "afile" / "g.png")])
    assert "must end in .png or .svg" in _error(["plan", "count", "--render", str(tmp_path / "p.txt")])


def test_ask_out_unwritable_is_an_error_before_any_work(echo: Echo, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    notes = tmp_path / "notes.txt"
    notes.write_text("one two three")
    message = _error(["ask", "count", "-f", str(notes), "--out", "afile/results"])
    assert "cannot write results to 'afile/results'" in message
    assert echo.seen == []  # refused before decomposing
    assert "is a file, not a folder" in _error(["ask", "count", "-f", str(notes), "--out", "afile"])


def test_a_txt_file_is_text_content(echo: Echo, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("héllo wörld, 3 words\n", encoding="utf-8")
    result = runner.invoke(app, ["ask", "count the words", "-f", str(notes), "--out", "out"])
    assert "not UTF-8 JSON" not in result.output
    [given] = echo.seen
    assert (given.type.value, given.value, given.name) == ("text", "héllo wörld, 3 words\n", "notes.txt")
    bare = runner.invoke(app, ["ask", "count the words", "-i", str(notes), "--out", "out2"])  # a bare path: a file
    assert "Traceback" not in bare.output and echo.seen[0].value == "héllo wörld, 3 words\n"
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    assert "'latin.txt' is not UTF-8 text" in _error(["ask", "count", "-f", "latin.txt"])


def test_image_option_refuses_a_non_image_naming_it(echo: Echo, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    assert "--image 'notes.txt' is not an image (a text file)" in _error(["ask", "grey", "--image", "notes.txt"])
    (tmp_path / "fake.png").write_text("not a picture")
    message = _error(["ask", "grey", "--image", "fake.png"])
    assert "'fake.png' is not a readable image" in message


def test_image_input_paths_say_what_is_wrong_with_them(echo: Echo, tmp_path: Path) -> None:
    (tmp_path / "somedir").mkdir()
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    assert "'somedir' is a directory, not a file" in _error(["ask", "grey", "--image", "somedir"])
    assert "'somedir' is a directory, not a file" in _error(["ask", "grey", "-i", "image=somedir"])
    assert "'somedir' is a directory, not a file" in _error(["ask", "grey", "-i", "somedir"])
    assert "no such file: '../nope/photo.png'" in _error(["ask", "grey", "-i", "image=../nope/photo.png"])
    message = _error(["ask", "grey", "-i", "image=passwd"])  # a declared type is used, not guessed from the name
    assert "'passwd' is not a readable image" in message and "write TYPE=PATH" not in message
    assert "'nope.xyz'" in _error(["ask", "grey", "-f", "nope.xyz"])
    (tmp_path / "data.xyz").write_text("?")
    assert "cannot tell the type of 'data.xyz'" in _error(["ask", "grey", "-f", "data.xyz"])


def test_a_fake_media_file_is_refused_naming_it(tmp_path: Path) -> None:
    fake = tmp_path / "talk.mp3"
    fake.write_text("this is text, not sound")
    photo = make_sample_photo(tmp_path / "photo.png")
    with Agent(ToGSettings(agent={"data_dir": tmp_path / "data", "assessor": "uniform"})) as the_agent:
        with pytest.raises(InputFileError, match="talk.mp3' is not audio") as caught:
            the_agent.add_files([photo, fake])
        assert str(tmp_path / "data") not in caught.value.message
        assert len(the_agent.store) == 0  # checked before anything is stored
        wav = tmp_path / "ok.wav"
        wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32))
        [(resource, _)] = the_agent.add_files([wav])
        assert resource.type.value == "audio"
