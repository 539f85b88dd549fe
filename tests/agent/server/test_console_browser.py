"""The web console in headless Chromium (Selenium over Debian's chromium + chromium-driver), against a real
uvicorn on a loopback port serving a real Agent: a scripted decomposer over small real tools, the real
OCR included. Nothing is downloaded: the driver and the browser are given by path and Selenium Manager is
kept offline.

A screenshot of each main view is saved under the pytest tmp dir (``console-screens*``) and, when
``TOG_TEST_ARTIFACTS`` is set, under ``$TOG_TEST_ARTIFACTS/console``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont
from server_support import GREY_AND_COUNT, InputsDecomposer, free_port, make_agent, make_settings, png_bytes
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Resource
from agent.engine.testing import always_fail, wait
from agent.server.app import create_app
from agent.server.models import FINAL_STATUSES
from graph.plan import Plan
from graph.types import ResourceType
from tools.image_ops import grayscale_image
from tools.list_ops import count_boxes
from tools.ocr import TOOLS as OCR_TOOLS
from tools.ocr import ocr_text_lines, read_text
from tools.registry import ToolRegistry

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
WORD = "HELLO"
BOXES = [{"x1": 2, "y1": 2, "x2": 30, "y2": 20, "label": "door"}, {"x1": 40, "y1": 10, "x2": 70, "y2": 40}]
KEY = "open-sesame"


def _missing() -> str | None:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        return f"headless Chromium needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})"
    if importlib.util.find_spec("selenium") is None:
        return "the browser tests need the selenium package (the test extra)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


# --- the server -----------------------------------------------------------------------------------------


class ConsoleDecomposer(InputsDecomposer):
    """Photos are made grey and read (text and text lines), boxes counted; ``fallback`` is a subtask whose
    first solution fails; anything else is the REST tests' decomposer (``slow`` waits, ``undecomposable``)."""

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        subtasks: list[dict[str, Any]] = []
        for r in resources:
            ref = [r.ref().model_dump(mode="json")]
            if r.type is ResourceType.IMAGE:
                subtasks += [
                    {"description": "make the photo grey", "args": ref, "returns": [{"type": "image"}]},
                    {"description": "read the text", "args": ref, "returns": [{"type": "text"}]},
                    {"description": "find the lines of text", "args": ref, "returns": [{"type": "bboxes"}]},
                ]
            elif r.type is ResourceType.BBOXES:
                subtasks.append({"description": "count the boxes", "args": ref, "returns": [{"type": "number"}]})
        if "fallback" in request:
            subtasks.append(
                {
                    "description": "pass the word on",
                    "args": [{"type": "text", "value": "word"}],
                    "returns": [{"type": "text"}],
                }
            )
        if not subtasks:
            return super().decompose(request, resources)
        return Plan.parse({"request": request, "subtasks": [{"id": i, **s} for i, s in enumerate(subtasks)]})


class StreamCutter:
    """Records the Last-Event-ID of every event-stream request; once armed, ends the next stream early
    (after ``n`` events), as a dropped connection would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.armed = 0
        self.requests: list[str | None] = []
        self.cut_at: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/events"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        self.requests.append(headers[b"last-event-id"].decode() if b"last-event-id" in headers else None)
        budget, self.armed = self.armed, 0
        if not budget:
            await self.app(scope, receive, send)
            return
        ended = False

        async def cutting(message: Message) -> None:
            nonlocal budget, ended
            if ended:
                return
            await send(message)
            body = message.get("body", b"") if message["type"] == "http.response.body" else b""
            seq = re.search(rb"^id: (\d+)$", body, re.MULTILINE)  # one SSE message per body chunk
            if seq:
                budget -= 1
                if budget == 0:
                    self.cut_at.append(int(seq[1]))
                    ended = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, receive, cutting)


class LiveServer:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app: ASGIApp) -> None:
        import uvicorn

        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
        )
        self.thread = threading.Thread(target=self.server.run, name="console-uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def console_settings(data_dir: Path, **server: Any) -> ToGSettings:
    """Two ranked solutions per subtask (so a failing first one can fall back), two workers."""
    settings = make_settings(data_dir, workers=2, **server)
    settings.agent = settings.agent.model_copy(update={"strategy": "exhaustive", "top_k": 2})
    return settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, StreamCutter]]:
    settings = console_settings(tmp_path_factory.mktemp("console") / "tog")
    # always_fail first: among equally scored chains the registry order decides, so it is solution 1.
    registry = ToolRegistry([always_fail, wait, grayscale_image, count_boxes, read_text, ocr_text_lines])
    agent = Agent(settings, registry=registry, decomposer=ConsoleDecomposer())
    cutter = StreamCutter(create_app(settings, agent))
    with LiveServer(cutter) as server:
        yield server, cutter
    agent.close()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("console-auth") / "tog", api_keys=[KEY])
    agent = make_agent(settings)
    with LiveServer(create_app(settings, agent)) as server:
        yield server
    agent.close()


# --- the browser ----------------------------------------------------------------------------------------


class Console:
    """A headless Chromium tab on the console, with the waits and checks the tests share."""

    def __init__(self, driver: Any, downloads: Path, screens: Sequence[Path]) -> None:
        self.driver = driver
        self.downloads = downloads
        self.screens = screens

    def open(self, url: str) -> None:
        self.driver.get(url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def until(self, check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = check()
            except Exception:  # an element replaced mid-check: look again
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                self.shot(f"timeout-{what.replace(' ', '-')[:40]}.png")
                raise AssertionError(
                    f"timed out waiting for {what}; page says: {self.text('#status')!r}, alert: {self.text('#alert')!r}"
                )
            time.sleep(0.05)

    def text(self, css: str) -> str:
        found = self.all(css)
        return found[0].get_attribute("textContent") if found else ""

    def node_states(self) -> dict[str, str]:
        return self.js(
            "return Object.fromEntries([...document.querySelectorAll('#graph .node')].map("
            "n => [n.dataset.subtask + ':' + n.dataset.solution + ':' + n.dataset.tool, n.dataset.state]))"
        )

    def task_done(self, status: str = "succeeded") -> str:
        """Waits for the task view to show ``status`` and its results; returns the task id."""
        self.until(lambda: self.find("#task-status").get_attribute("data-status") == status, f"task {status}")
        self.until(lambda: self.text("#answer"), "the answer")
        return self.js("return location.hash.split('/')[2]")

    def image_loaded(self, css: str) -> bool:
        return bool(
            self.js(
                "const i = document.querySelector(arguments[0]); return !!i && i.complete && i.naturalWidth > 0", css
            )
        )

    def shot(self, name: str, width: int | None = None) -> None:
        """A screenshot of the whole page (the window grown to its height), into every screens folder."""
        size = self.driver.get_window_size()
        if width:
            self.driver.set_window_size(width, size["height"])
        height = self.js("window.scrollTo(0, 0); return Math.min(5000, document.documentElement.scrollHeight + 120)")
        self.driver.set_window_size(width or size["width"], max(600, int(height)))
        for folder in self.screens:
            self.driver.save_screenshot(str(folder / name))
        self.driver.set_window_size(size["width"], size["height"])

    def errors(self) -> list[str]:
        """Severe console messages other than the failed requests a test provoked on purpose."""
        return [
            e["message"]
            for e in self.driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folders = [tmp_path_factory.mktemp("console-screens")]
    if os.environ.get("TOG_TEST_ARTIFACTS"):
        extra = Path(os.environ["TOG_TEST_ARTIFACTS"]) / "console"
        extra.mkdir(parents=True, exist_ok=True)
        folders.append(extra)
    return folders


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, screens: list[Path]) -> Iterator[Console]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("console-downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--window-size=1280,900",
        "--lang=en-GB",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not fetch drivers or browsers
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield Console(driver, downloads, screens)
    driver.quit()


@pytest.fixture
def tab(console: Console) -> Iterator[Console]:
    """The console, left on a blank page afterwards (so no event stream stays open) with no script errors."""
    console.driver.get_log("browser")
    yield console
    errors = console.errors()
    console.open("about:blank")
    assert not errors, errors


# --- inputs ---------------------------------------------------------------------------------------------


def ocr_ready() -> bool:
    return FONT.is_file() and all(t.available()[0] for t in OCR_TOOLS)


@pytest.fixture(scope="module")
def sign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A photo with one printed word (PIL-rendered, read by the real OCR) on a coloured patch."""
    image = Image.new("RGB", (320, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((250, 20, 300, 100), fill=(30, 120, 200))
    font = ImageFont.truetype(str(FONT), 48) if FONT.is_file() else ImageFont.load_default()
    draw.text((20, 30), WORD, font=font, fill="black")
    path = tmp_path_factory.mktemp("console-inputs") / "sign.png"
    image.save(path)
    return path


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    response = httpx.get(server.url + path, headers=headers, timeout=10)
    response.raise_for_status()
    return response


def submit(tab: Console, request: str, files: Sequence[Path] = (), resources: Any = None) -> None:
    tab.find("#request").clear()
    tab.find("#request").send_keys(request)
    for path in files:
        tab.find("#files").send_keys(str(path))
    if resources is not None:
        tab.find("details summary").click()
        tab.find("#resources").send_keys(json.dumps(resources))
    tab.find("#submit").click()
    tab.until(lambda: "#/task/" in tab.driver.current_url, "the task view")


def wait_for_download(folder: Path, name: str, timeout_s: float = 15.0) -> bytes:
    path = folder / name
    deadline = time.monotonic() + timeout_s
    while not path.is_file() or any(folder.glob("*.crdownload")):
        assert time.monotonic() < deadline, f"{name} was not downloaded; have {os.listdir(folder)}"
        time.sleep(0.05)
    return path.read_bytes()


# --- the tests ------------------------------------------------------------------------------------------


def test_a_photo_task_shows_its_plan_result_image_boxes_ocr_text_and_downloads(tab: Console, served, sign) -> None:
    if not ocr_ready():
        pytest.skip(f"the OCR backend or the font {FONT} is missing: {OCR_TOOLS[0].available()[1]}")
    server, _ = served
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    tab.shot("01-new-task.png")
    submit(tab, "grey it, read it and count the boxes", [sign], [{"name": "boxes", "type": "bboxes", "value": BOXES}])
    task_id = tab.task_done()
    states = tab.node_states()
    assert states == {
        "0:0:grayscale_image": "done",
        "1:0:read_text": "done",
        "2:0:ocr_text_lines": "done",
        "3:0:count_boxes": "done",
    }, states
    assert len(tab.all("#graph .group")) == 4 and tab.all("#graph .source")  # the photo feeds the subtasks
    assert len(tab.all("#graph path.edge")) == 3  # photo -> grey, read, lines (the boxes are a literal)
    assert "(count_boxes): 2" in tab.text("#answer") and WORD in tab.text("#answer")

    grey = '#results .card[data-type="image"] img'
    tab.until(lambda: tab.image_loaded(grey), "the grey image")
    ocr = tab.until(lambda: tab.text('#results .card[data-type="text"] pre'), "the OCR text")
    assert ocr.strip() == WORD
    boxes = '#results .card[data-type="bboxes"] svg.boxes'
    tab.until(lambda: tab.all(boxes + " rect.box"), "the text line boxed on the photo")
    assert tab.text(boxes + " text.box-label").startswith(WORD)
    assert tab.js("return document.querySelector(arguments[0] + ' image').getAttribute('href')", boxes).startswith(
        "blob:"
    )
    tab.until(lambda: tab.image_loaded('#inputs .card[data-type="image"] img'), "the input photo")
    tab.shot("02-task-result.png")

    view = get(server, f"/v1/tasks/{task_id}").json()
    grey_id = next(a["id"] for a in view["artifacts"] if a["type"] == "image")
    tab.find(f'button[data-download="{grey_id}"]').click()
    assert wait_for_download(tab.downloads, f"{grey_id}.png") == get(server, f"/v1/artifacts/{grey_id}").content
    tab.until(lambda: "Downloaded" in tab.text("#status"), "the download noted")

    tab.driver.set_window_size(390, 900)
    try:  # at phone width the subtasks wrap onto rows of their own, drawn at full size
        tab.until(
            lambda: tab.js("return document.querySelector('#graph svg').getAttribute('width') < 390"),
            "the graph laid out for a phone",
        )
        assert tab.js("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "wider than a phone"
        tab.shot("03-task-phone.png")
    finally:
        tab.driver.set_window_size(1280, 900)


def test_the_graph_changes_state_live_and_the_stream_resumes_after_a_cut(tab: Console, served) -> None:
    server, cutter = served
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    cutter.armed = 6  # the first stream of the next task ends after 6 events
    asked = len(cutter.requests)
    submit(tab, "slow steps")
    seen: list[dict[str, str]] = []

    def running_while_others_wait() -> bool:
        states = tab.node_states()
        seen.append(states)
        values = list(states.values())
        return len(values) == 4 and "running" in values and "queued" in values

    tab.until(running_while_others_wait, "one step running while later ones are queued")
    tab.shot("04-task-running.png")

    def all_done() -> bool:  # keep watching until the end, so the steps' one-by-one finish is seen
        states = tab.node_states()
        seen.append(states)
        return bool(states) and set(states.values()) == {"done"}

    tab.until(all_done, "every step done")
    tab.task_done()
    assert set(tab.node_states().values()) == {"done"}
    assert any(list(s.values()).count("done") in (1, 2, 3) for s in seen), "the steps finished one after another"
    streams = cutter.requests[asked:]
    assert len(cutter.cut_at) == 1 and streams[0] is None and streams[1] == str(cutter.cut_at[0]), streams
    task_id = tab.js("return location.hash.split('/')[2]")
    events = get(server, f"/v1/tasks/{task_id}/events").text.count("\nid: ")
    section = tab.find("#view-task")
    assert section.get_attribute("data-reconnects") == "1"
    # every event reached the page exactly once: none lost at the cut, none replayed after it
    assert section.get_attribute("data-events") == section.get_attribute("data-last-event") == str(events)


def test_a_failing_tool_falls_back_and_a_failing_task_or_request_shows_why(tab: Console, served, tmp_path) -> None:
    server, _ = served
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    submit(tab, "fallback please")
    tab.task_done()
    assert tab.node_states() == {"0:0:always_fail": "failed", "0:1:wait": "done"}
    assert "fell back" in tab.text("#graph")
    tab.shot("05-task-fallback.png")

    tab.open(server.url + "/#/new")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    submit(tab, "undecomposable")
    tab.task_done("failed")
    error = tab.find("#task-error")
    assert error.is_displayed() and error.get_attribute("data-code") == "decomposition_failed"
    assert error.text.startswith("The task failed.") and "No subtasks found in the request" in error.text
    assert "No plan" in tab.text("#graph")
    tab.shot("06-task-failed.png")

    tab.open(server.url + "/#/new")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    odd = tmp_path / "notes.xyz"
    odd.write_bytes(b"not a known type")
    tab.find("#request").send_keys("look at this")
    tab.find("#files").send_keys(str(odd))
    tab.find("#submit").click()
    alert = tab.until(lambda: tab.find("#alert").is_displayed() and tab.find("#alert"), "the refusal")
    assert alert.get_attribute("data-code") == "unsupported_type" and "notes.xyz" in alert.text
    assert alert.text.startswith("Not a kind of input the server accepts.")
    assert tab.driver.current_url.endswith("#/new")  # nothing was queued
    tab.shot("07-request-refused.png")


def test_a_running_task_is_cancelled_from_its_page(tab: Console, served) -> None:
    server, _ = served
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    submit(tab, "slow, to be cancelled")
    tab.until(lambda: "running" in tab.node_states().values(), "a step running")
    tab.find("#task-cancel").click()
    tab.until(lambda: tab.find("#task-status").get_attribute("data-status") == "cancelled", "the task cancelled")
    assert not tab.find("#task-cancel").is_displayed()
    states = list(tab.node_states().values())
    assert states[-1] == "cancelled" and "running" not in states and "queued" not in states, states


def test_files_come_by_drop_and_paste_and_can_be_removed(tab: Console, served) -> None:
    server, _ = served
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#drop").is_displayed(), "the drop zone")
    data = base64.b64encode(png_bytes((8, 8))).decode()
    tab.js(
        """const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
      const dropped = new DataTransfer(); dropped.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
      document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dropped, bubbles: true, cancelable: true}));
      const pasted = new DataTransfer(); pasted.items.add(new File([bytes], 'image', {type: 'image/png'}));
      document.getElementById('request').dispatchEvent(new ClipboardEvent('paste', {clipboardData: pasted, bubbles: true, cancelable: true}));""",
        data,
    )
    names = [li.text for li in tab.all("#file-list li")]
    assert len(names) == 2 and names[0].startswith("dropped.png") and names[1].startswith("image.png"), names
    tab.find('#file-list button[aria-label="Remove dropped.png"]').click()
    assert [li.text.split(" ")[0] for li in tab.all("#file-list li")] == ["image.png"]
    tab.find("#drop").click()  # focusable: keyboard users open the file chooser from it
    assert tab.js("return document.activeElement.id") == "drop"


def test_a_workflow_is_pasted_its_inputs_filled_and_its_outputs_shown(tab: Console, served) -> None:
    server, _ = served
    created = httpx.post(
        server.url + "/v1/tasks",
        data={"request": "a photo"},
        files=[("files", ("photo.png", png_bytes((40, 30)), "image/png"))],
        timeout=10,
    ).json()
    deadline = time.monotonic() + 30
    # Only the upload matters here: "a photo" asks for nothing, so the task may end in any final status.
    while (view := get(server, f"/v1/tasks/{created['id']}").json())["status"] not in FINAL_STATUSES:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    photo = view["inputs"][0]["id"]
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    tab.find('input[name="mode"][value="workflow"]').click()
    tab.js(
        "const t = document.getElementById('workflow-text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input'))",
        GREY_AND_COUNT,
    )
    tab.until(lambda: tab.all("#wf-input-image") and tab.all("#wf-input-boxes"), "the workflow's input fields")
    label = tab.text('label[for="wf-input-label"]')
    assert "text, optional" in label and "only boxes with this label" in label
    assert "required" in tab.text('label[for="wf-input-image"]')
    tab.until(
        lambda: tab.js(f"return !!document.querySelector('#known-image option[value=\"{photo}\"]')"),
        "the earlier upload offered",
    )
    tab.find("#wf-input-image").send_keys(photo)
    tab.find("#wf-input-boxes").send_keys(json.dumps(BOXES))
    tab.find("#submit").click()
    tab.until(lambda: tab.find("#workflow-result").is_displayed(), "the workflow result")
    assert tab.text("#workflow-status") == "succeeded"
    assert [r.get_attribute("data-step") for r in tab.all("#workflow-steps tbody tr")] == ["grey", "n"]
    tab.until(lambda: tab.image_loaded('#workflow-outputs .card[data-type="image"] img'), "the grey output")
    assert tab.until(lambda: tab.text('#workflow-outputs .card[data-type="number"] pre'), "the count") == "2"
    tab.shot("08-workflow.png")

    tab.find("#wf-input-boxes").clear()
    tab.find("#wf-input-boxes").send_keys("[{]")
    tab.find("#submit").click()
    assert tab.until(lambda: tab.text("#alert"), "the form error") == "The input “boxes” must be JSON."
    assert tab.js("return document.activeElement.id") == "wf-input-boxes"
    tab.js(
        "const t = document.getElementById('workflow-text'); t.value = arguments[0].replace('count_boxes', "
        "'count_sheep'); t.dispatchEvent(new Event('input'))",
        GREY_AND_COUNT,
    )
    tab.find("#wf-input-boxes").clear()
    tab.find("#wf-input-boxes").send_keys(json.dumps(BOXES))
    time.sleep(0.4)  # the fields are rebuilt from the edited workflow, keeping what was typed
    assert tab.find("#wf-input-image").get_attribute("value") == photo
    tab.find("#submit").click()
    alert = tab.until(lambda: "count_sheep" in tab.text("#alert") and tab.find("#alert"), "the workflow refused")
    assert alert.get_attribute("data-code") == "invalid_workflow" and alert.find_elements("css selector", "li")


def test_a_workflow_input_file_is_uploaded_from_the_form(tab: Console, served, tmp_path: Path) -> None:
    server, _ = served
    photo = tmp_path / "picked.png"
    photo.write_bytes(png_bytes((24, 18)))
    tab.open(server.url + "/")
    tab.until(lambda: tab.find("#request").is_displayed(), "the form")
    tab.find('input[name="mode"][value="workflow"]').click()
    tab.js(
        "const t = document.getElementById('workflow-text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input'))",
        GREY_AND_COUNT,
    )
    tab.until(lambda: tab.all("#wf-input-image-upload"), "the upload control of the image input")
    assert "upload a file" in tab.text('label[for="wf-input-image-upload"]')
    tab.find("#wf-input-image-upload").send_keys(str(photo))
    stored = tab.until(lambda: tab.find("#wf-input-image").get_attribute("value"), "the uploaded file's id")
    meta = get(server, f"/v1/artifacts/{stored}/meta").json()
    assert (meta["filename"], meta["width"], meta["height"]) == ("picked.png", 24, 18)
    tab.find("#wf-input-boxes").send_keys(json.dumps(BOXES))
    tab.find("#submit").click()
    tab.until(lambda: tab.find("#workflow-result").is_displayed(), "the workflow result")
    assert tab.text("#workflow-status") == "succeeded"

    tab.js(
        "const t = document.getElementById('workflow-text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input'))",
        GREY_AND_COUNT + " ",
    )
    notes = tmp_path / "notes.xyz"  # no type can be told from the name
    notes.write_text("not an image")
    tab.until(lambda: tab.all("#wf-input-image-upload"), "the upload control again")
    tab.find("#wf-input-image-upload").send_keys(str(notes))
    alert = tab.until(lambda: tab.text("#alert") and tab.find("#alert"), "the refused upload")
    assert alert.get_attribute("data-code") == "unsupported_type"


def test_history_pages_tasks_and_the_tool_catalogue_shows_the_graph_picture(tab: Console, served) -> None:
    server, _ = served
    tasks = get(server, "/v1/tasks?limit=200").json()["items"]
    assert len(tasks) >= 2
    tab.open(server.url + "/#/history")
    tab.until(lambda: tab.all("#history-table tr[data-task]"), "the history")
    rows = tab.all("#history-table tr[data-task]")
    assert [r.get_attribute("data-task") for r in rows] == [t["id"] for t in tasks[:20]]
    assert rows[0].find_element("css selector", ".badge").text == tasks[0]["status"]
    tab.shot("09-history.png")
    tab.find("#history-status").send_keys("failed")
    tab.until(
        lambda: (
            all(
                r.find_element("css selector", ".badge").text == "failed"
                for r in tab.all("#history-table tr[data-task]")
            )
            and tab.all("#history-table tr[data-task]")
        ),
        "only the failed tasks",
    )
    tab.find("#history-table tr[data-task] a").click()
    tab.task_done("failed")

    tab.open(server.url + "/#/tools")
    tab.until(lambda: len(tab.all("#tools-list li")) == 6, "the tool catalogue")
    assert "6 of 6 tools" in tab.text("#tools-count")
    tab.until(lambda: tab.image_loaded("#graph-png"), "the tool graph picture")
    tab.shot("10-tools.png")
    tab.find("#tools-filter").send_keys("bboxes")
    visible = [li.get_attribute("data-tool") for li in tab.all("#tools-list li") if li.is_displayed()]
    assert visible == sorted(visible) and set(visible) == {"count_boxes", "ocr_text_lines"}


def test_with_auth_on_the_key_is_asked_for_once_and_sent_with_every_call(tab: Console, guarded_server) -> None:
    tab.open(guarded_server.url + "/")
    form = tab.until(lambda: tab.find("#key-form").is_displayed() and tab.find("#key-form"), "the key prompt")
    assert tab.js("return document.activeElement.id") == "key-input"
    assert tab.find("#alert").text.startswith("An API key is needed.")
    tab.shot("11-key-prompt.png")
    tab.find("#key-input").send_keys("wrong", "\n")
    tab.until(lambda: "not one this server accepts" in tab.text("#alert"), "the wrong key refused")
    tab.find("#key-input").send_keys(KEY, "\n")
    tab.until(lambda: not form.is_displayed(), "the prompt closed")
    assert tab.js("return sessionStorage.getItem('tog.apiKey')") == KEY
    submit(tab, "quick")
    tab.task_done()
    assert tab.node_states() == {"0:0:wait": "done"}
    tab.open(guarded_server.url + "/#/tools")  # a reload keeps the key (same tab) and loads blobs with it
    tab.until(lambda: tab.image_loaded("#graph-png"), "the graph picture fetched with the key")
    assert not tab.find("#key-form").is_displayed()
    tab.js("sessionStorage.clear()")
