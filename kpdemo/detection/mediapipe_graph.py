"""One legacy MediaPipe solution graph (BlazeFace, face mesh), shared safely by every caller in a process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class SolutionGraph:
    """A ``mp.solutions`` graph built on first use, used under a lock, and rebuilt after a failure.

    Why each part: building a graph costs start-up time an app that never uses it should not pay; one graph is not
    thread-safe and Gradio calls handlers from worker threads; and a graph whose ``process`` raised once (an image
    with no pixels does it) raises "Graph has errors" on every later image, so without a rebuild one bad frame would
    stop a long-running app finding faces for everyone.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._graph: Any = None
        self._lock = threading.Lock()

    def process(self, image: np.ndarray) -> Any:
        """The solution's result for an RGB uint8 image, or None for an image without pixels (a graph cannot take
        one: nothing is there to find). A failure rebuilds the graph and tries once more, so an image is refused
        only for itself, never for an earlier one that broke the graph."""
        if image.size == 0:
            return None
        image = np.ascontiguousarray(image)
        with self._lock:
            try:
                return self._built().process(image)
            except Exception:
                self._discard()
            try:
                return self._built().process(image)
            except Exception:
                self._discard()
                raise

    def _built(self) -> Any:
        if self._graph is None:
            self._graph = self._build()
        return self._graph

    def _discard(self) -> None:
        """Drop the graph; closing a broken one raises its error again, which says nothing new."""
        if self._graph is not None:
            with contextlib.suppress(RuntimeError):
                self._graph.close()
        self._graph = None
