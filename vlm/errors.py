"""Typed errors of the InternVL runtime.

They separate the user's mistakes (a corrupt or oversized image, too many images) from backend
trouble, and within backend trouble what is worth retrying (a timeout, a 503) from what is not.
"""

from __future__ import annotations

from typing import Any

from graph.errors import ToGError


class VLMError(ToGError):
    """Base of every error the vlm package raises on purpose."""

    code = "vlm_error"


class ImageInputError(VLMError, ValueError):
    """An image that cannot be used: unreadable, corrupt, of an unsupported kind, or empty."""

    code = "invalid_image"


class ImageTooLargeError(ImageInputError):
    """An image with more pixels than the configured limit (decompression-bomb guard)."""

    code = "image_too_large"


class TooManyImagesError(VLMError, ValueError):
    """More images (or tiles) in one request than the limits allow."""

    code = "too_many_images"


class VideoInputError(VLMError, ValueError):
    """A video that cannot be decoded or sampled."""

    code = "invalid_video"


class GroundingParseError(VLMError, ValueError):
    """Model output that is not well-formed ``<ref>…</ref><box>[[…]]</box>``; ``raw`` keeps the text."""

    code = "grounding_parse_error"

    def __init__(self, message: str, raw: str, **details: Any) -> None:
        super().__init__(message, raw=raw, **details)
        self.raw = raw


class PromptError(VLMError, ValueError):
    """A prompt that cannot be built: ``<image>`` placeholders that do not match the images given, or
    text that smuggles in the image-token strings themselves."""

    code = "invalid_prompt"


class UnknownTemplateError(PromptError):
    """A conversation template name that is not known; the message lists the known ones."""

    code = "unknown_template"


class CheckpointError(VLMError):
    """A checkpoint that cannot be loaded: missing files, unknown model type, or a transformers
    version that no longer runs its remote code (the message names the version)."""

    code = "checkpoint_error"


class BackendError(VLMError):
    """A model backend failed. ``retryable`` tells the engine whether trying again may help."""

    code = "backend_error"

    def __init__(self, message: str, retryable: bool = False, **details: Any) -> None:
        super().__init__(message, retryable=retryable, **details)
        self.retryable = retryable


class BackendTimeoutError(BackendError):
    """The backend did not answer in time (always retryable)."""

    code = "backend_timeout"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, retryable=True, **details)


class BackendOverloadedError(BackendError):
    """A bounded queue is full; try again later (backpressure)."""

    code = "backend_overloaded"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, retryable=True, **details)
