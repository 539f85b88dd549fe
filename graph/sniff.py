"""What a media file's first bytes say it is: a declared type its bytes are not is refused where files come in.

A text file named ``talk.mp3`` was accepted as audio and failed later inside a tool, with a message naming a
file in the artifact store. Checking the container signature ("magic bytes") when the file arrives lets the
REST server answer 415 and the CLI name the user's file. Images need no table here: the artifact store decodes
them whenever they are stored.

    >>> matches(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ", "audio"), matches(b"hello, world", "audio")
    (True, False)
    >>> matches(b"\\x00\\x00\\x00\\x18ftypmp42", "video"), matches(b"anything", "text") is None
    (True, True)
"""

from __future__ import annotations

from graph.types import ResourceType, resolve_type

#: How many leading bytes :func:`matches` needs.
HEAD_BYTES = 512


def _riff(head: bytes, form: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == form


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio (MP1/2/3) or ADTS AAC frame: 11 set sync bits."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _ftyp(head: bytes) -> bool:
    """An ISO base media file (mp4, mov, m4a, 3gp): a ``ftyp`` box first."""
    return head[4:8] == b"ftyp"


_EBML = b"\x1a\x45\xdf\xa3"  # Matroska and WebM

_AUDIO = (
    lambda h: _riff(h, b"WAVE"),
    lambda h: h[:3] == b"ID3",
    _mpeg_audio_frame,
    lambda h: h[:4] == b"fLaC",
    lambda h: h[:4] == b"OggS",
    _ftyp,
    lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"),
    lambda h: h[:4] == _EBML,
)
_VIDEO = (
    _ftyp,
    lambda h: h[:4] == _EBML,
    lambda h: _riff(h, b"AVI "),
    lambda h: h[:4] == b"OggS",
    lambda h: h[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"),  # MPEG program stream, MPEG video
    lambda h: h[:3] == b"FLV",
    lambda h: h[:4] == b"\x30\x26\xb2\x75",  # ASF (wmv)
    lambda h: len(h) > 188 and h[0] == h[188] == 0x47,  # MPEG transport stream: a sync byte every 188 bytes
)
_CHECKS = {ResourceType.AUDIO: _AUDIO, ResourceType.VIDEO: _VIDEO}


def matches(head: bytes, rtype: ResourceType | str) -> bool | None:
    """Whether ``head`` (the first :data:`HEAD_BYTES` bytes) starts a file of ``rtype``; None: not checked."""
    checks = _CHECKS.get(resolve_type(rtype))
    if checks is None:
        return None
    return any(check(head) for check in checks)
