"""A Python client for a Gradio 6.31 webcam ``stream`` event, speaking the page's own protocol.

Why not gradio_client: it cannot drive a stream event (it reads no ``process_streaming`` replies), and the Webcam
tab's stream is private anyway (``api_visibility="private"``: not in the API docs). So this client does what the
page's JavaScript does (``@gradio/client``'s ``submit`` and ``send_chunk``, the Image component's webcam capture):

1. ``GET /config``: the dependency triggered by the camera's ``stream`` gives ``fn_index``, the inputs (the other
   inputs take their components' current values, a ``gr.State`` is sent as ``null``: the server keeps its value) and
   ``stream_every``;
2. ``GET /gradio_api/heartbeat/{session_hash}``, held open while the page is (the server frees the session's state
   when it drops), then ``POST /gradio_api/queue/join`` with the first frame as the camera's value,
   ``{"url": "data:image/jpeg;base64,..."}`` (what the page sends for a streamed webcam frame), answered by an
   ``event_id``;
3. ``GET /gradio_api/queue/data?session_hash=...``: server-sent events; each frame is answered by one
   ``process_streaming`` message carrying the outputs;
4. ``POST /gradio_api/stream/{event_id}`` for each further frame, ``POST /gradio_api/stream/{event_id}/close`` at
   the end.

Like the page, a :class:`StreamSession` never sends a frame while the previous one is unanswered (:meth:`send`
returns with the reply), so a caller that paces its sends at the camera rate measures what a browser would get.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

#: The Webcam tab's camera (``elem_id`` of its ``gr.Image(streaming=True)``).
CAMERA_ELEM_ID = "webcam-camera"
#: How long a reply may take before the stream counts as broken. The server's own heartbeat comes every 15 s.
REPLY_TIMEOUT_S = 60.0


class StreamError(RuntimeError):
    """The server ended the stream or answered something a page would show as an error."""


@dataclass(frozen=True)
class StreamEvent:
    """A stream event as ``/config`` describes it: what a page sends with every frame."""

    api_prefix: str
    fn_index: int
    trigger_id: int  # the camera component
    inputs: tuple[Any, ...]  # the values sent with each frame; the camera's slot holds None
    camera_slot: int  # where the frame goes in ``inputs``
    outputs: tuple[int, ...]  # component ids, in the order of a reply's ``data``
    stream_every: float  # seconds between the page's capture ticks
    heartbeat: bool  # whether pages keep a heartbeat connection (the server frees a session's state when it drops)


def find_stream_event(config: Mapping[str, Any], camera_elem_id: str = CAMERA_ELEM_ID,
                      values: Mapping[str, Any] | None = None) -> StreamEvent:
    """The event that the component ``camera_elem_id`` triggers on ``stream``, from the app's ``/config``.

    ``values`` overrides what the page would send for other inputs, by component label or ``elem_id`` (e.g.
    ``{"Model": "mediapipe478"}``); the rest take the values the page shows at load.
    """
    components = {c["id"]: c for c in config["components"]}
    camera = next((i for i, c in components.items() if c["props"].get("elem_id") == camera_elem_id), None)
    if camera is None:
        raise StreamError(f"no component with elem_id {camera_elem_id!r} in this app")
    dependency = next((d for d in config["dependencies"] if [camera, "stream"] in [list(t) for t in d["targets"]]),
                      None)
    if dependency is None:
        raise StreamError(f"{camera_elem_id!r} triggers no stream event")
    values = dict(values or {})
    inputs = []
    for component_id in dependency["inputs"]:
        component = components[component_id]
        props = component["props"]
        names = [n for n in (props.get("label"), props.get("elem_id")) if n in values]
        if component_id == camera or component["type"] == "state":
            inputs.append(None)
        else:
            inputs.append(values.pop(names[0]) if names else props.get("value"))
    if values:
        raise StreamError(f"no input of the stream event is called {sorted(values)}")
    return StreamEvent(api_prefix=config.get("api_prefix", "/gradio_api"), fn_index=dependency["id"],
                       trigger_id=camera, inputs=tuple(inputs), camera_slot=dependency["inputs"].index(camera),
                       outputs=tuple(dependency["outputs"]), stream_every=float(dependency["stream_every"]),
                       heartbeat=bool(config.get("connect_heartbeat")))


def jpeg_frame(jpeg: bytes) -> dict[str, str]:
    """A JPEG as the camera's value in a streamed frame, as the page's webcam capture sends it."""
    return {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")}


def data_url_bytes(value: Mapping[str, Any] | None) -> bytes | None:
    """The bytes of an image output that arrived inline (``{"url": "data:...;base64,..."}``); None for no image."""
    if value is None:
        return None
    url = value.get("url") or ""
    if not url.startswith("data:") or ";base64," not in url:
        raise StreamError(f"image output did not arrive inline: {url[:80]!r}")
    return base64.b64decode(url.split(",", 1)[1])


class StreamSession:
    """One page's stream: :meth:`send` a JPEG frame, get the outputs of its reply; :meth:`close` at the end.

    Use as a context manager. Not thread-safe: one session per thread, as one page per visitor.
    """

    def __init__(self, base_url: str, event: StreamEvent, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.event = event
        self.session_hash = secrets.token_hex(6)  # the page uses a random 11-12 character id
        self.event_id: str | None = None
        self.frames_sent = 0
        self._http = httpx.Client(base_url=base_url.rstrip("/") + event.api_prefix,
                                  timeout=httpx.Timeout(timeout_s, connect=10))
        self._sse: httpx.Response | None = None
        self._heartbeat: httpx.Response | None = None
        self._messages: Iterator[dict[str, Any]] | None = None

    @classmethod
    def connect(cls, base_url: str, camera_elem_id: str = CAMERA_ELEM_ID, values: Mapping[str, Any] | None = None,
                timeout_s: float = REPLY_TIMEOUT_S) -> StreamSession:
        """Read the app's ``/config`` and open a session on its camera's stream event (nothing is sent yet)."""
        config = httpx.get(base_url.rstrip("/") + "/config", timeout=timeout_s).raise_for_status().json()
        return cls(base_url, find_stream_event(config, camera_elem_id, values), timeout_s)

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, jpeg: bytes) -> list[Any]:
        """Send one frame and wait for its reply: the outputs' values (``gr.State`` outputs arrive as None)."""
        data = list(self.event.inputs)
        data[self.event.camera_slot] = jpeg_frame(jpeg)
        body = {"data": data, "event_data": None, "fn_index": self.event.fn_index, "session_hash": self.session_hash}
        if self.event_id is None:
            if self.event.heartbeat:  # opened first, as the page does; never read: closing it ends the session
                self._heartbeat = self._http.send(
                    self._http.build_request("GET", f"/heartbeat/{self.session_hash}"), stream=True)
            joined = self._http.post("/queue/join", json=body | {"trigger_id": self.event.trigger_id})
            self.event_id = joined.raise_for_status().json()["event_id"]
            self._sse = self._http.send(self._http.build_request(
                "GET", "/queue/data", params={"session_hash": self.session_hash}), stream=True)
            self._messages = self._read_messages(self._sse.raise_for_status())
        else:
            reply = self._http.post(f"/stream/{self.event_id}", json=body)
            if reply.status_code == 404:
                raise StreamError("the server has ended this stream (time limit, or the session was closed)")
            reply.raise_for_status()
        self.frames_sent += 1
        return self._next_reply()

    def close(self) -> None:
        """End the stream as the page's stop button does, and drop the connections."""
        try:
            if self.event_id is not None:
                self._http.post(f"/stream/{self.event_id}/close", json={})
        except httpx.HTTPError:
            pass  # the server may be gone already; there is nothing left to close then
        finally:
            for response in (self._sse, self._heartbeat):
                if response is not None:
                    response.close()
            self._http.close()

    def _next_reply(self) -> list[Any]:
        assert self._messages is not None
        for message in self._messages:
            kind = message.get("msg")
            if kind == "process_streaming":
                output = message["output"]
                if output.get("error"):
                    raise StreamError(f"the server answered with an error: {output['error']}")
                return output["data"]
            if kind == "process_completed":
                output = message.get("output") or {}
                raise StreamError(f"the stream ended: {output.get('error') or 'completed'}")
            if kind in ("unexpected_error", "close_stream"):
                raise StreamError(f"the server closed the stream: {message.get('message') or kind}")
        raise StreamError("the server closed the event stream")

    @staticmethod
    def _read_messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
        """The JSON messages of a server-sent event stream (``data: {...}`` lines)."""
        for line in response.iter_lines():
            if line.startswith("data:"):
                yield json.loads(line[5:])


def play(session: StreamSession, frames: list[bytes], duration_s: float, camera_fps: float = 30.0,
         ) -> Iterator[tuple[int, float, list[Any]]]:
    """Stream a looping clip for ``duration_s`` as a page would: ``(frame index, round trip s, outputs)`` per reply.

    The page captures on a timer (every ``stream_every`` s) and skips ticks while a frame is unanswered; each tick
    takes the camera's current frame (``camera_fps``), so a slow server sees frames skipped, not queued.
    """
    interval = session.event.stream_every
    start = time.monotonic()
    now = start
    while now - start < duration_s:
        index = int((now - start) * camera_fps) % len(frames)
        outputs = session.send(frames[index])
        answered = time.monotonic()
        yield index, answered - now, outputs
        ticks = int((answered - start) / interval) + 1  # the first capture tick after the reply
        now = max(start + ticks * interval, answered)
        time.sleep(max(0.0, now - time.monotonic()))
