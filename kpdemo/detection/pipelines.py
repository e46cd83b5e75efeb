"""The face detector kpdemo uses by default (:func:`default_detector`), assembled from the face finders
(:mod:`kpdemo.detection.face_finders`) and the wrappers (:mod:`kpdemo.detection.wrappers`).

Why its own module: the order and combination of passes is a decision measured on benchmarks, separate from how each
pass works. BlazeFace misses faces narrower than about 12% / 6-8% of the image's longer side (short / full range), so
:func:`default_detector` works in two modes:

* photos (``video=False``): short range on the whole image (its boxes fit the landmark box best) plus full range on
  the whole image and on overlapping tiles of 384, 768, ... px (:class:`~kpdemo.detection.wrappers.TiledDetector`),
  so a 40 px face is 20 px at the model's input; duplicates are merged by
  :func:`~kpdemo.detection.boxes.suppress_duplicates`; if that finds no face, short range again on a smoothed copy
  of a noisy picture (:class:`~kpdemo.detection.wrappers.DenoisedDetector`: dim light), then short range on the
  image in a black border (:class:`~kpdemo.detection.wrappers.PaddedDetector`: a face cut by the frame), then both
  models on the whole image turned by quarter turns (:class:`~kpdemo.detection.wrappers.TurnedDetector`); Haar only
  if all that finds nothing.
* webcam frames (``video=True``): short range, full range, short range on a smoothed copy of a noisy frame, short
  range in a black border, then Haar, first non-empty result (one BlazeFace pass for a webcam's large face: the
  frame budget is ~100 ms).

In both modes each MediaPipe face gets its roll at any angle, and false faces are dropped, by
:class:`~kpdemo.detection.wrappers.OrientedDetector`: checkpoint models then cut their crops upright
(``Detection.angle``); and an image over 1,600 px is searched on a copy shrunk to that size
(:class:`~kpdemo.detection.wrappers.DownscaledDetector`).
"""

from __future__ import annotations

from kpdemo.detection.detector import FaceDetector
from kpdemo.detection.face_finders import HaarFaceDetector, MediaPipeFaceDetector
from kpdemo.detection.wrappers import (
    DenoisedDetector,
    DownscaledDetector,
    FallbackDetector,
    MergedDetector,
    OrientedDetector,
    PaddedDetector,
    PhotoVideoDetector,
    TiledDetector,
    TurnedDetector,
)


def photo_detector(short: FaceDetector, full: FaceDetector, fallback: FaceDetector) -> FaceDetector:
    """Short-range on the whole image plus tiled full-range, merged; when that finds no face, the same on a
    smoothed copy of a noisy picture (dim light), then short range on the image in a black border (a face cut by
    the frame), then both models on the image turned by quarter turns; ``fallback`` only when none of those finds a
    face. Faces oriented by ``short`` (:class:`~kpdemo.detection.wrappers.OrientedDetector`), which also drops the
    false ones."""
    merged = OrientedDetector(MergedDetector([short, TiledDetector(full, verifier=short)]), short)
    turned = TurnedDetector(MergedDetector([short, full]))  # no tiles: a photo with no face pays ~3 x 2 passes
    return FallbackDetector([merged, DenoisedDetector(merged), OrientedDetector(PaddedDetector(short), short),
                             OrientedDetector(turned, short), fallback])


def video_detector(short: FaceDetector, full: FaceDetector, fallback: FaceDetector) -> FaceDetector:
    """Short range, full range, short range on a smoothed copy of a noisy frame (a dark room), short range on the
    frame in a black border (a face cut by the frame: a user close to the camera), then ``fallback``: the first
    that finds a face; faces oriented by ``short``."""
    oriented_short = OrientedDetector(short, short)
    return FallbackDetector([oriented_short, OrientedDetector(full, short), DenoisedDetector(oriented_short),
                             OrientedDetector(PaddedDetector(short), short), fallback])


def default_detector() -> FaceDetector:
    """Photos: every face from ~40 px up, at any roll, in dim light too (:func:`photo_detector`); video frames: the
    first of short range -> full range -> short range on a smoothed noisy frame -> short range in a black border ->
    Haar that finds a face (:func:`video_detector`); both on images over 1,600 px shrunk to that size first
    (:class:`~kpdemo.detection.wrappers.DownscaledDetector`).

    Both modes share the three detectors, so each MediaPipe graph is built once.
    """
    short, full, haar = MediaPipeFaceDetector(0), MediaPipeFaceDetector(1), HaarFaceDetector()
    both = PhotoVideoDetector(photo=photo_detector(short, full, haar), video=video_detector(short, full, haar))
    return DownscaledDetector(both)
