"""The OpenAI-compatible backend against a fake lmdeploy / vLLM server on loopback (no network, no GPU)."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from vlm.backends.base import ChatRequest, GenerationConfig, Turn, make_request
from vlm.backends.openai_compat import OpenAICompatibleBackend
from vlm.errors import BackendError, BackendTimeoutError, ImageInputError, TooManyImagesError, VideoInputError
from vlm.grounding import format_grounding, parse_grounding, referring_prompt
from vlm.images import ImageLimits

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import (
    FakeOpenAIServer,
    decoded_images,
    image_parts,
    user_text,
)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Random RGB noise: any re-encoding loss or pixel shuffle would show in a comparison."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def backend(server):
    with OpenAICompatibleBackend(server.url, timeout=5.0, backoff=0.01) as client:
        yield client


# --- what goes over the wire ---------------------------------------------------------------------


def test_request_carries_the_image_pixel_for_pixel(server, backend):
    image = photo(64, 48)
    answer = backend.chat([image], "What is in the picture?")

    assert answer == "images=1 sizes=64x48 text=What is in the picture?"
    (body,) = server.chat_bodies
    assert image_parts(body)[0]["url"].startswith("data:image/png;base64,")
    (received,) = decoded_images(body)
    assert np.array_equal(np.asarray(received.convert("RGB")), np.asarray(image))


def test_images_from_paths_and_bytes_arrive_intact(server, backend, tmp_path):
    first, second = photo(30, 20, seed=1), photo(17, 41, seed=2)
    first.save(tmp_path / "a.png")
    buffer = io.BytesIO()
    second.save(buffer, format="PNG")

    backend.chat([tmp_path / "a.png", buffer.getvalue()], "compare")

    received = decoded_images(server.chat_bodies[0])
    assert [np.asarray(r.convert("RGB")).tolist() for r in received] == [
        np.asarray(first).tolist(),
        np.asarray(second).tolist(),
    ]


def test_jpeg_encoding_is_available_for_smaller_uploads(server):
    with OpenAICompatibleBackend(server.url, image_format="jpeg") as client:
        assert client.chat([photo(40, 30)], "q") == "images=1 sizes=40x30 text=q"
    assert image_parts(server.chat_bodies[0])[0]["url"].startswith("data:image/jpeg;base64,")


def test_single_image_goes_before_the_question_without_labels(server, backend):
    backend.chat([photo(8, 8)], "Describe it.")

    content = server.chat_bodies[0]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["image_url", "text"]
    assert content[1]["text"] == "Describe it."


def test_text_only_request_is_a_plain_string_message(server, backend):
    backend.chat([], "Hello?")
    assert server.chat_bodies[0]["messages"] == [{"role": "user", "content": "Hello?"}]


@pytest.mark.parametrize(
    ("owned_by", "root", "expected_text"),
    [
        ("lmdeploy", None, "Image-1: <IMAGE_TOKEN>\nImage-2: <IMAGE_TOKEN>\nWhich is larger?"),
        ("vllm", "OpenGVLab/InternVL2_5-8B", "Image-1: <image>\nImage-2: <image>\nWhich is larger?"),
        ("someone-else", None, "Which is larger?"),
    ],
)
def test_multi_image_labels_use_each_servers_placeholder(owned_by, root, expected_text):
    with FakeOpenAIServer(owned_by=owned_by, root=root) as fake, OpenAICompatibleBackend(fake.url) as client:
        answer = client.chat([photo(10, 10), photo(20, 30)], "Which is larger?")
        body = fake.chat_bodies[0]

    assert answer.startswith("images=2 sizes=10x10,20x30 ")
    content = body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["image_url", "image_url", "text"]
    assert content[-1]["text"] == expected_text


def test_multi_image_on_vllm_hf_checkpoint_interleaves_labels_and_images():
    with FakeOpenAIServer(owned_by="vllm", root="OpenGVLab/InternVL3-2B-hf") as fake:
        with OpenAICompatibleBackend(fake.url) as client:
            client.chat([photo(10, 10), photo(20, 30)], "Which is larger?")
        content = fake.chat_bodies[0]["messages"][-1]["content"]

    assert [part["type"] for part in content] == ["text", "image_url", "text", "image_url", "text"]
    assert [part.get("text") for part in content] == ["Image-1: ", None, "Image-2: ", None, "Which is larger?"]


def test_explicit_prompt_style_overrides_detection_and_respects_placed_placeholders():
    with FakeOpenAIServer(owned_by="unknown") as fake:
        with OpenAICompatibleBackend(fake.url, prompt_style="lmdeploy") as client:
            client.chat([photo(4, 4), photo(5, 5)], "a")
            client.chat([photo(4, 4), photo(5, 5)], "<IMAGE_TOKEN> versus <IMAGE_TOKEN>: which?")
        first, second = (user_text(body) for body in fake.chat_bodies)

    assert first == "Image-1: <IMAGE_TOKEN>\nImage-2: <IMAGE_TOKEN>\na"
    assert second == "<IMAGE_TOKEN> versus <IMAGE_TOKEN>: which?"


def test_video_frames_are_labelled_and_limited_to_one_tile(server, backend):
    frames = [photo(32, 24, seed=k) for k in range(3)]
    answer = backend.chat(frames, "What happens?", kind="video")

    body = server.chat_bodies[0]
    assert answer.startswith("images=3 sizes=32x24,32x24,32x24 ")
    assert user_text(body) == "Frame1: <image>\nFrame2: <image>\nFrame3: <image>\nWhat happens?"
    assert [part["max_dynamic_patch"] for part in image_parts(body)] == [1, 1, 1]
    assert body["mm_processor_kwargs"] == {"max_dynamic_patch": 1}


def test_video_file_is_sampled_into_labelled_frames(server, backend, tmp_path):
    frames = [Image.new("RGB", (16, 12), (20 * k, 100, 200)) for k in range(10)]
    clip = tmp_path / "clip.gif"
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100)

    backend.chat([], "What changes?", kind="video", video=clip, num_segments=3)

    body = server.chat_bodies[0]
    assert user_text(body) == "Frame1: <image>\nFrame2: <image>\nFrame3: <image>\nWhat changes?"
    assert [im.convert("RGB").getpixel((0, 0))[0] for im in decoded_images(body)] == [20, 80, 140]
    assert body["mm_processor_kwargs"] == {"max_dynamic_patch": 1}


def test_max_tiles_is_sent_for_vllm_and_lmdeploy(server, backend):
    backend.chat([photo(8, 8)], "q", max_tiles=6)
    backend.chat([photo(8, 8)], "q")
    limited, default = server.chat_bodies

    assert limited["mm_processor_kwargs"] == {"max_dynamic_patch": 6}
    assert image_parts(limited)[0]["max_dynamic_patch"] == 6
    assert "mm_processor_kwargs" not in default
    assert "max_dynamic_patch" not in image_parts(default)[0]


def test_system_message_and_history_become_chat_turns(server, backend):
    history = [Turn(question="What animal is this?", answer="A cat."), ("What colour?", "Orange.")]
    backend.chat([photo(8, 8)], "Is it asleep?", history, system_message="Answer briefly.")

    messages = server.chat_bodies[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == "Answer briefly."
    assert [m["content"] for m in messages[1:5]] == ["What animal is this?", "A cat.", "What colour?", "Orange."]
    assert user_text(server.chat_bodies[0]) == "Is it asleep?"


def test_greedy_decoding_sends_temperature_zero_and_no_sampling_knobs(server, backend):
    backend.chat([], "q", generation=GenerationConfig(max_new_tokens=32))
    body = server.chat_bodies[0]
    assert body["max_tokens"] == 32
    assert body["temperature"] == 0.0
    assert body["stream"] is False
    for knob in ("top_p", "top_k", "repetition_penalty", "seed", "stop"):
        assert knob not in body


def test_sampling_parameters_map_to_openai_fields(server, backend):
    config = GenerationConfig(
        max_new_tokens=64, do_sample=True, temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1, seed=7
    )
    backend.chat([], "q", generation=config)
    body = server.chat_bodies[0]
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")} == {
        "max_tokens": 64,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "repetition_penalty": 1.1,
        "seed": 7,
    }


# --- model discovery and connection settings -----------------------------------------------------


def test_model_is_discovered_once_and_reused(server, backend):
    backend.chat([], "one")
    backend.chat([], "two")

    paths = [r.path for r in server.requests]
    assert paths == ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"]
    assert [body["model"] for body in server.chat_bodies] == ["fake-internvl", "fake-internvl"]
    assert backend.model == "fake-internvl"


def test_given_model_skips_discovery_and_api_key_is_sent(server):
    with OpenAICompatibleBackend(server.url + "/v1/", model="my-internvl", api_key="sk-test") as client:
        client.chat([photo(8, 8)], "q")

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "my-internvl"
    assert request.headers["Authorization"] == "Bearer sk-test"


def test_server_without_a_model_list_falls_back_to_plain_prompts(server):
    server.fail(404, message="no such route", path="/v1/models")
    with OpenAICompatibleBackend(server.url, model="given") as client:
        client.chat([photo(4, 4), photo(5, 5)], "which?")
    assert user_text(server.chat_bodies[0]) == "which?"


def test_failed_discovery_is_not_cached(server):
    server.fail(503, times=2, path="/v1/models")
    with OpenAICompatibleBackend(server.url, backoff=0.0, max_retries=1) as client:
        with pytest.raises(BackendError, match="gave up"):
            client.chat([], "q")
        assert client.chat([], "q").endswith("text=q")  # the server is back: asked again


def test_empty_batch_sends_nothing(server, backend):
    assert backend.batch_chat([]) == []
    assert server.requests == []


def test_bad_base_url_is_rejected_at_construction():
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleBackend("localhost:23333")


# --- streaming -----------------------------------------------------------------------------------


def test_stream_yields_deltas_that_add_up_to_the_answer(server, backend):
    request = make_request([photo(12, 9)], "tell me about this picture")
    pieces = list(backend.stream(request))

    assert len(pieces) > 3
    assert "".join(pieces) == backend.chat([photo(12, 9)], "tell me about this picture")
    assert server.chat_bodies[0]["stream"] is True


def test_stream_retries_before_the_first_byte_and_reports_rejections(server, backend):
    server.fail(503, times=1)
    assert "".join(backend.stream(make_request([], "hello there"))) == "images=0 sizes= text=hello there"

    server.fail(400, message="prompt too long")
    with pytest.raises(BackendError, match="prompt too long") as caught:
        list(backend.stream(make_request([], "again")))
    assert caught.value.retryable is False


def test_stream_checks_images_when_called_before_sending(server, backend):
    with pytest.raises(ImageInputError):
        backend.stream(make_request([b"not an image"], "q"))
    assert server.requests == []


def test_stream_error_event_and_cut_off_stream_are_backend_errors(server, backend):
    delta = b'data: {"choices": [{"index": 0, "delta": {"content": "The "}, "finish_reason": null}]}\n\n'
    server.fail(200, body=delta + b'data: {"object": "error", "message": "engine died", "code": 500}\n\n')
    pieces: list[str] = []
    with pytest.raises(BackendError, match="engine died"):
        pieces.extend(backend.stream(make_request([], "q")))
    assert pieces == ["The "]

    server.fail(200, body=delta)  # the connection closes before the answer finishes
    with pytest.raises(BackendError, match="ended before") as caught:
        list(backend.stream(make_request([], "q")))
    assert caught.value.retryable is True


def test_stream_timeout_is_typed(server):
    server.delay = 1.0
    with OpenAICompatibleBackend(server.url, model="m", timeout=0.2) as client, pytest.raises(BackendTimeoutError):
        list(client.stream(make_request([], "slow")))


# --- failures and retries ------------------------------------------------------------------------


def test_transient_errors_are_retried_with_exponential_backoff(server):
    server.fail(503, times=1)
    server.fail(500, times=1)
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.05, max_retries=2) as client:
        assert client.chat([], "q") == "images=0 sizes= text=q"

    arrivals = [r.at for r in server.requests]
    assert len(arrivals) == 3
    assert arrivals[1] - arrivals[0] >= 0.05
    assert arrivals[2] - arrivals[1] >= 0.10


def test_retries_exhausted_raise_a_retryable_error_with_the_servers_message(server):
    server.fail(500, times=3, message="engine crashed")
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.0, max_retries=2) as client:
        with pytest.raises(BackendError, match="engine crashed") as caught:
            client.chat([], "q")

    assert caught.value.retryable is True
    assert caught.value.details["status"] == 500
    assert "3 attempts" in str(caught.value)
    assert len(server.chat_bodies) == 3


def test_rate_limit_honours_a_short_retry_after(server):
    server.fail(429, retry_after="0.3")
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.0) as client:
        assert client.chat([], "q").endswith("text=q")

    first, second = (r.at for r in server.requests)
    assert second - first >= 0.3


def test_a_long_retry_after_is_not_waited_for(server):
    server.fail(503, retry_after="120", message="warming up")
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.0) as client:
        started = time.monotonic()
        with pytest.raises(BackendError, match="warming up") as caught:
            client.chat([], "q")

    assert time.monotonic() - started < 1.0
    assert caught.value.retryable is True
    assert caught.value.details["retry_after"] == 120.0
    assert len(server.chat_bodies) == 1


@pytest.mark.parametrize("style", ["openai", "flat"])
def test_client_errors_are_not_retried_and_carry_the_servers_message(server, style):
    server.fail(400, message="image_url is not a valid data URL", style=style)
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.0) as client:
        with pytest.raises(BackendError, match="image_url is not a valid data URL") as caught:
            client.chat([], "q")

    assert caught.value.retryable is False
    assert caught.value.details["status"] == 400
    assert len(server.chat_bodies) == 1


def test_timeout_raises_backend_timeout_error_quickly(server):
    server.delay = 2.0
    with OpenAICompatibleBackend(server.url, model="m", timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(BackendTimeoutError) as caught:
            client.chat([], "q")

    assert time.monotonic() - started < 1.5
    assert caught.value.retryable is True
    assert not isinstance(caught.value.__cause__, BackendError)  # chained from httpx, not leaked


def test_unreachable_server_is_a_retryable_backend_error():
    with FakeOpenAIServer() as fake:
        url = fake.url  # the port is closed once the server stops
    with OpenAICompatibleBackend(url, model="m", backoff=0.0, max_retries=1) as client:
        with pytest.raises(BackendError, match="cannot reach") as caught:
            client.chat([], "q")
    assert caught.value.retryable is True
    assert not isinstance(caught.value, httpx.HTTPError)


def test_malformed_json_is_a_backend_error(server, backend):
    server.send_malformed()
    with pytest.raises(BackendError, match="malformed JSON"):
        backend.chat([], "q")


def test_answer_without_choices_is_a_backend_error(server, backend):
    server.fail(200, body=b'{"object": "chat.completion", "choices": []}')
    with pytest.raises(BackendError, match="without choices"):
        backend.chat([], "q")


def test_server_listing_no_models_is_a_backend_error():
    with FakeOpenAIServer() as fake:
        fake.models.clear()
        with OpenAICompatibleBackend(fake.url) as client:
            with pytest.raises(BackendError, match="lists no models") as caught:
                client.chat([], "q")
    assert caught.value.retryable is False


# --- validation before sending -------------------------------------------------------------------


def test_corrupt_image_fails_before_any_request_is_sent(server, backend):
    good = make_request([photo(8, 8)], "fine")
    bad = make_request([b"\x89PNG\r\n\x1a\n but then garbage"], "broken")

    with pytest.raises(ImageInputError):
        backend.batch_chat([good, bad])
    assert server.requests == []  # not even model discovery


def test_too_many_images_fail_before_any_request_is_sent(server):
    with OpenAICompatibleBackend(server.url, limits=ImageLimits(max_images=2)) as client:
        with pytest.raises(TooManyImagesError):
            client.chat([photo(4, 4)] * 3, "q")
    assert server.requests == []


def test_tiles_above_the_limit_and_bad_videos_are_refused_before_sending(server, tmp_path):
    with OpenAICompatibleBackend(server.url, limits=ImageLimits(max_tiles=6)) as client:
        with pytest.raises(TooManyImagesError, match="tiles"):
            client.chat([photo(4, 4)], "q", max_tiles=12)
        with pytest.raises(VideoInputError, match="not found"):
            client.chat([], "q", kind="video", video=tmp_path / "missing.mp4")
        with pytest.raises(VideoInputError, match="not both"):
            client.chat([photo(4, 4)], "q", kind="video", video=tmp_path / "missing.mp4")
    assert server.requests == []


def test_closed_backend_raises_a_typed_error(server):
    client = OpenAICompatibleBackend(server.url, model="m")
    client.close()
    with pytest.raises(BackendError, match="closed"):
        client.chat([], "q")


# --- grounding -----------------------------------------------------------------------------------


def test_grounding_answer_from_the_server_parses_into_pixel_boxes(server, backend):
    server.responder = lambda body: "Sure. " + format_grounding([("the dog", [[100, 200, 600, 900]])])
    image = photo(400, 300)

    answer = backend.chat([image], referring_prompt("the dog"))
    boxes = parse_grounding(answer, image.width, image.height)

    assert user_text(server.chat_bodies[0]).endswith("<ref>the dog</ref>")
    assert [(b.x1, b.y1, b.x2, b.y2, b.label) for b in boxes] == [(40.0, 60.0, 240.0, 270.0, "the dog")]


# --- batching ------------------------------------------------------------------------------------


def test_batch_chat_runs_concurrently_and_keeps_order(server):
    together = threading.Barrier(3, timeout=5)  # breaks (and fails the test) unless 3 are in flight at once
    done = {k: threading.Event() for k in range(6)}
    finished: list[int] = []

    def reverse_order(body):
        k = int(user_text(body))
        if k < 3:
            together.wait()
            if k < 2:
                done[k + 1].wait(timeout=5)  # 2 finishes first, then 1, then 0
        finished.append(k)
        done[k].set()
        return f"answer {k}"

    server.responder = reverse_order
    with OpenAICompatibleBackend(server.url, model="m", max_concurrency=3) as client:
        answers = client.batch_chat([make_request([], str(k)) for k in range(6)])

    assert answers == [f"answer {k}" for k in range(6)]
    assert [k for k in finished if k < 3] == [2, 1, 0]  # answered out of order, returned in order
    assert server.max_in_flight == 3  # never more than max_concurrency


def test_batch_chat_raises_the_first_failure_after_the_rest_finish(server):
    server.responder = lambda body: "ok" if user_text(body) != "bad" else (_ for _ in ()).throw(ValueError("no"))
    with OpenAICompatibleBackend(server.url, model="m", backoff=0.0) as client:
        with pytest.raises(BackendError, match="could not answer") as caught:
            client.batch_chat([make_request([], q) for q in ("a", "bad", "c")])
    assert caught.value.retryable is False
    assert len(server.chat_bodies) == 3


def test_chat_request_objects_are_accepted_directly(server, backend):
    request = ChatRequest(question="q", images=[photo(6, 6)])
    assert backend.batch_chat([request]) == ["images=1 sizes=6x6 text=q"]


# --- the retry policy with an injected clock ------------------------------------------------------


def test_retry_waits_follow_backoff_then_retry_after_without_really_sleeping(server):
    server.fail(500, times=2)
    server.fail(429, retry_after="7")
    waits: list[float] = []
    with OpenAICompatibleBackend(server.url, model="m", backoff=1.5, max_retries=3, max_retry_after=10.0) as client:
        client._sleep = waits.append
        started = time.monotonic()
        assert client.chat([], "q").endswith("text=q")

    assert waits == [1.5, 3.0, 7.0]  # backoff · 2^n, then the server's own Retry-After
    assert time.monotonic() - started < 2.0
    assert len(server.chat_bodies) == 4


def test_without_retries_one_failure_gives_up_at_once(server):
    server.fail(503)
    waits: list[float] = []
    with OpenAICompatibleBackend(server.url, model="m", max_retries=0) as client:
        client._sleep = waits.append
        with pytest.raises(BackendError, match=r"gave up after 1 attempts") as caught:
            client.chat([], "q")
    assert caught.value.retryable is True and caught.value.details["status"] == 503
    assert waits == []


def test_a_backend_closed_while_waiting_to_retry_stops(server):
    server.fail(503, times=5)
    client = OpenAICompatibleBackend(server.url, model="m", max_retries=4)
    client._sleep = lambda seconds: client.close()
    with pytest.raises(BackendError, match="closed") as caught:
        client.chat([], "q")
    assert caught.value.retryable is False
    assert len(server.chat_bodies) == 1
