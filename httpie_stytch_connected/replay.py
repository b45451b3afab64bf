"""Whether a request body can be sent a second time (the resend after a 401), and how.

Bytes can always go again and a seekable file from where it started. A ``requests_toolbelt``
``MultipartEncoder`` whose parts are all in memory (no open files) is read into bytes before the
first send, so the resend is byte-for-byte the same; HTTPie's ``--multipart`` bodies are such
encoders. HTTPie's ``--chunked`` wrappers (``ChunkedUploadStream``,
``ChunkedMultipartUploadStream``) are replayable when what they wrap is in memory. Anything else
(a generator, a pipe, an encoder over open files) is read once: no resend.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import requests

#: Called after the first send: readies ``request.body`` for the resend, False if it cannot be.
Rewind = Callable[[requests.PreparedRequest], bool]

_LIST_ITERATOR: type[Any] = type(iter([]))


def rewinder(request: requests.PreparedRequest) -> Rewind:
    """Look at the body before it is sent, and say how to send it again afterwards.

    A multipart body held in memory is read into bytes here (same length, same boundary), so
    it can go any number of times.
    """
    body: Any = request.body
    if body is None or isinstance(body, (bytes, str)):
        return _in_memory
    if _encoder_in_memory(body):
        request.body = body.to_string()
        return _in_memory
    encoder: Any = getattr(body, "encoder", None)
    if _encoder_in_memory(encoder):  # HTTPie's --chunked --multipart
        data = encoder.to_string()
        return _restart(body, "encoder", lambda: io.BytesIO(data))
    stream = getattr(body, "stream", None)
    if isinstance(stream, _LIST_ITERATOR):  # HTTPie's --chunked over bytes in memory
        chunks = list(stream)
        return _restart(body, "stream", lambda: iter(chunks))
    try:
        position = body.tell()
    except (AttributeError, OSError):
        return _in_memory
    return _seek(body, position)


def _in_memory(request: requests.PreparedRequest) -> bool:
    """Bytes go again as they are; a stream may have been read into bytes since (HTTPie's
    ``--compress`` does that after the auth hook ran)."""
    return request.body is None or isinstance(request.body, (bytes, str))


def _seek(body: Any, position: int) -> Rewind:
    def rewind(request: requests.PreparedRequest) -> bool:
        if not _holds(request, body):
            return _in_memory(request)
        try:
            body.seek(position)
        except (AttributeError, OSError):
            return False
        return True

    return rewind


def _restart(wrapper: Any, name: str, source: Callable[[], Any]) -> Rewind:
    """A wrapper that reads ``wrapper.<name>`` gets a fresh copy now and for each resend."""
    setattr(wrapper, name, source())

    def rewind(request: requests.PreparedRequest) -> bool:
        setattr(wrapper, name, source())
        return _holds(request, wrapper) or _in_memory(request)

    return rewind


def _holds(request: requests.PreparedRequest, body: Any) -> bool:
    """Whether the request still carries ``body`` (the object, not an equal one)."""
    return id(request.body) == id(body)


def _encoder_in_memory(value: Any) -> bool:
    """A ``requests_toolbelt`` ``MultipartEncoder`` none of whose parts is an open file."""
    parts = getattr(value, "parts", None)
    return (
        type(value).__name__ == "MultipartEncoder"
        and isinstance(parts, list)
        and all(isinstance(getattr(part, "body", None), io.BytesIO) for part in parts)
    )
