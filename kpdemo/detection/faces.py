"""Face detectors: image -> face boxes, each carrying how to turn its box into the training crop's landmark box.

Checkpoint models were trained on crops cut around the *68-point landmark box* (see
:func:`kpdemo.geometry.square_crop_matrix`), which no detector outputs. Each detector therefore carries a
:class:`BoxCalibration` fitted on real faces by ``bench/calibrate_face_box.py`` (300-W train images: detector box vs
68-point box), so a detected face is cropped the way the model saw faces in training.

Detectors: MediaPipe's BlazeFace (short- and full-range models, .tflite bundled in the mediapipe 0.10.21 wheel) and
OpenCV's frontal Haar cascade (shipped with opencv). BlazeFace shrinks the whole image to its 128 px (short range) or
192 px (full range) input, so it misses faces narrower than about 12% / 6-8% of the image's longer side: a 60 px face
in a 1024 px group photo. :func:`default_detector` therefore works in two modes:

* photos (``video=False``): short range on the whole image (its boxes fit the landmark box best) plus full range on
  the whole image and on overlapping tiles of 384, 768, ... px (:class:`TiledDetector`), so a 40 px face is 20 px
  at the model's input; duplicates are merged by :func:`suppress_duplicates`; if that finds no face, short range
  again on a smoothed copy of a noisy picture (:class:`DenoisedDetector`: dim light), then short range on the
  image in a black border (:class:`PaddedDetector`: a face cut by the frame), then both models on the whole image
  turned by quarter turns (:class:`TurnedDetector`); Haar only if all that finds nothing.
* webcam frames (``video=True``): short range, full range, short range on a smoothed copy of a noisy frame, short
  range in a black border, then Haar, first non-empty result (one BlazeFace pass for a webcam's large face: the
  frame budget is ~100 ms).

In both modes each MediaPipe face gets its roll at any angle, and false faces are dropped, by
:class:`OrientedDetector`: checkpoint models then cut their crops upright (``Detection.angle``); and an image over
1,600 px is searched on a copy shrunk to that size (:class:`DownscaledDetector`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from kpdemo.detection.crops import crop_matrix, crop_to_image, upright_angle, window_turn, wrapped
from kpdemo.detection.images import MAX_SIDE, image_array
from kpdemo.detection.mediapipe_graph import SolutionGraph


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box -> estimated landmark box: centre = box centre + (dx, dy) x side, longer side = scale x side.

    ``side`` is the detector box's mean side (sqrt(w*h)); the constants are medians over 300-W train faces, which are
    upright, so (dx, dy) hold in the face's own frame: for a face turned by ``angle`` the offset turns with it.
    """

    scale: float
    dx: float
    dy: float

    def landmark_box(self, box: np.ndarray, angle: float = 0.0) -> tuple[float, float, float]:
        """(centre x, centre y, longer side) of the estimated 68-point box, in the frame of a face whose eye line
        runs at ``angle`` degrees, for a detector box (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = float(np.sqrt(max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6)))
        dx, dy = window_turn(angle).T @ np.array([self.dx, self.dy])
        return (x0 + x1) / 2 + float(dx) * side, (y0 + y1) / 2 + float(dy) * side, self.scale * side


# Medians fitted by bench/calibrate_face_box.py on 1,507 300-W train faces (bench/results/face_box_calibration.json).
# Residual centre error (median / p90, in landmark-box sides): short 0.040 / 0.078, full 0.072 / 0.146, Haar 0.084 /
# 0.164; the short-range model matched all 1,507 faces, the full-range model and Haar 78-79%.
MEDIAPIPE_SHORT_CALIBRATION = BoxCalibration(scale=0.964, dx=0.002, dy=0.064)
MEDIAPIPE_FULL_CALIBRATION = BoxCalibration(scale=0.877, dx=0.006, dy=0.097)
HAAR_CALIBRATION = BoxCalibration(scale=0.994, dx=0.011, dy=0.156)
#: A box a caller hands in (``LandmarkPredictor.predict_in_boxes``) is taken as the face's landmark box.
GIVEN_BOX = BoxCalibration(scale=1.0, dx=0.0, dy=0.0)

#: How far around a face already found tile levels grey out (x its width per side); see :func:`masked`.
MASK_MARGIN = 0.25


@dataclass(frozen=True)
class Detection:
    """One face box (x0, y0, x1, y1) in full-image pixels, its score and the calibration of the detector that found it.

    ``score`` is the detector's confidence: a probability for MediaPipe, the cascade's level weight for Haar.
    ``angle`` is the face's roll: its eye line's angle in degrees (image axes, from the subject's right eye to the
    left; 0 = upright), the ``angle`` of :func:`~kpdemo.detection.crops.crop_matrix` that cuts the face upright.
    BlazeFace's eye keypoints give it to within a few degrees up to ~60 deg of roll; Haar gives 0; beyond that
    :class:`OrientedDetector` finds it. ``others`` are the same face at other rolls it may have (each with its own
    box and angle): the other quarter turns :class:`OrientedDetector` saw it at, surest first, or those of a box a
    caller handed in, which says nothing of the roll; the landmark model may judge between them (see
    :meth:`~kpdemo.detection.checkpoint.CheckpointPredictor.first_answers`).
    """

    box: np.ndarray
    score: float
    detector: str
    calibration: BoxCalibration
    angle: float = 0.0
    others: tuple[Detection, ...] = ()

    def landmark_box(self) -> tuple[float, float, float]:
        return self.calibration.landmark_box(self.box, self.angle)

    def scaled(self, factors: np.ndarray) -> Detection:
        """This detection (and its ``others``) with every box multiplied by ``factors`` (x0, y0, x1, y1)."""
        return replace(self, box=self.box * factors, others=tuple(other.scaled(factors) for other in self.others))


class FaceDetector:
    """Base class: ``detect(image RGB uint8, video) -> list[Detection]``, best first.

    ``video=True`` marks a live frame: a detector may then skip the extra passes that only find small faces (see
    :class:`~kpdemo.detection.base.LandmarkPredictor`); single-pass detectors ignore it.
    """

    name = "face detector"

    def detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        """Every face in ``image`` (any form :func:`~kpdemo.detection.images.image_array` takes: checked here, so
        a detector called on its own gives the same readable errors as a predictor), best first."""
        return self._detect(image_array(image), video)

    def glance(self, image: np.ndarray) -> list[Detection]:
        """A quick look for the faces in a live frame, to check that the faces a stream follows are still the ones
        in view (:meth:`~kpdemo.detection.base.LandmarkPredictor.track` with ``recheck``): boxes and rough rolls,
        without the slower passes and fallbacks of :meth:`detect`. It may miss faces that :meth:`detect` finds;
        the caller then runs :meth:`detect`. By default the same as ``detect(image, video=True)``."""
        return self._glance(image_array(image))

    def _detect(self, image: np.ndarray, video: bool) -> list[Detection]:
        """What a detector implements: an RGB uint8 (H, W, 3) image in (a plug-in may override :meth:`detect`
        itself instead, as long as it takes such an image)."""
        raise NotImplementedError

    def _glance(self, image: np.ndarray) -> list[Detection]:
        return self.detect(image, video=True)


class MediaPipeFaceDetector(FaceDetector):
    """BlazeFace via the legacy ``mp.solutions.face_detection`` (model 0: short range, faces within ~2 m; 1: full),
    in a :class:`~kpdemo.detection.mediapipe_graph.SolutionGraph` (built on first use, locked, rebuilt after a failure).
    """

    def __init__(self, model_selection: int = 1, min_confidence: float = 0.5) -> None:
        self.model_selection = model_selection
        self.min_confidence = min_confidence
        self.name = f"mediapipe-{'full' if model_selection else 'short'}"
        self.calibration = MEDIAPIPE_FULL_CALIBRATION if model_selection else MEDIAPIPE_SHORT_CALIBRATION
        self._graph = SolutionGraph(self._build)

    def _build(self) -> object:
        from mediapipe.python.solutions import face_detection

        return face_detection.FaceDetection(model_selection=self.model_selection,
                                            min_detection_confidence=self.min_confidence)

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        h, w = image.shape[:2]
        result = self._graph.process(image)
        found = []
        for det in (result.detections if result else None) or []:
            rel = det.location_data.relative_bounding_box
            box = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h])
            right_eye, left_eye = ((k.x * w, k.y * h) for k in det.location_data.relative_keypoints[:2])
            found.append(Detection(box.astype(np.float32), float(det.score[0]), self.name, self.calibration,
                                   upright_angle(right_eye, left_eye)))
        return sorted(found, key=lambda d: -d.score)


class HaarFaceDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade: no model download, weaker on turned faces; used when MediaPipe fails."""

    name = "haar"

    def __init__(self) -> None:
        self._cascade: cv2.CascadeClassifier | None = None
        self._lock = threading.Lock()

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        min_side = max(24, int(0.08 * min(gray.shape)))
        with self._lock:
            if self._cascade is None:
                self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
            boxes, _, weights = self._cascade.detectMultiScale3(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True
            )
        found = [
            Detection(np.array([x, y, x + bw, y + bh], np.float32), float(wt), self.name, HAAR_CALIBRATION)
            for (x, y, bw, bh), wt in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights), strict=True)
        ]
        return sorted(found, key=lambda d: -d.score)


def overlap(box: np.ndarray, other: np.ndarray) -> float:
    """Intersection over the *smaller* box's area: 1 when one box lies inside the other.

    Plain IoU would keep a half-face box from a tile next to the whole face's box (IoU ~0.5); this measure drops it.
    """
    x0, y0 = np.maximum(box[:2], other[:2])
    x1, y1 = np.minimum(box[2:], other[2:])
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    smaller = min(float(np.prod(box[2:] - box[:2])), float(np.prod(other[2:] - other[:2])))
    return inter / smaller if smaller > 0 else 0.0


def suppress_duplicates(detections: list[Detection], threshold: float = 0.5) -> list[Detection]:
    """Non-maximum suppression by *priority*: keep each detection unless it overlaps one kept before it.

    The caller orders detections by trust (short-range whole image first, then full-range from coarse to fine), so
    a face keeps the box whose calibration fits best, and a partial face cut by a tile edge never wins.
    """
    kept: list[Detection] = []
    for det in detections:
        if all(overlap(det.box, k.box) < threshold for k in kept):
            kept.append(det)
    return kept


def tile_starts(length: int, tile: int) -> list[int]:
    """Offsets of tiles ``tile`` px long covering ``length`` px with at least a quarter tile of overlap.

    The overlap bounds the faces a tile level must find whole: a face up to tile/4 wide lies inside some tile, and
    larger ones are found at the next, twice as large level.
    """
    if length <= tile:
        return [0]
    count = -(-(length - tile) // (tile * 3 // 4)) + 1  # ceil division: stride at most 3/4 of a tile
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def masked(image: np.ndarray, detections: list[Detection], margin: float = MASK_MARGIN) -> np.ndarray:
    """A copy of ``image`` with each detected face (box grown by ``margin`` x its width per side) filled grey.

    BlazeFace drops a small face outright when a face three or more times larger shares its view (seen at any
    threshold), so a tile level must not see the faces a coarser level already found.
    """
    out = image.copy()
    h, w = image.shape[:2]
    for det in detections:
        grow = margin * float(det.box[2] - det.box[0])
        x0, y0 = (max(0, int(v - grow)) for v in det.box[:2])
        x1, y1 = (int(np.ceil(v + grow)) for v in det.box[2:])
        out[y0 : min(y1, h), x0 : min(x1, w)] = 128
    return out


def around(image: np.ndarray, box: np.ndarray, size: int, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` px square crop of twice ``box``'s mean side, centred on it and turned by ``angle`` degrees, and the
    crop's affine. The face fills half of it, so a detector looking at the crop sees it whole and large."""
    x0, y0, x1, y1 = (float(v) for v in box)
    matrix = crop_matrix((x0 + x1) / 2, (y0 + y1) / 2, 2 * np.sqrt((x1 - x0) * (y1 - y0)), (size, size), angle)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return crop, matrix


def centre_in_middle(box: np.ndarray, side: int) -> bool:
    """Whether a box's centre lies in the middle half of a ``side`` x ``side`` crop."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(side / 4 <= cx <= 3 * side / 4 and side / 4 <= cy <= 3 * side / 4)


class TiledDetector(FaceDetector):
    """Runs ``detector`` on the whole image, then (photos only) on overlapping tiles of ..., 2 x ``tile``, ``tile`` px.

    Each tile is resized to the model's 192 px input, so a face that is too small a share of the whole image is a
    large enough share of a tile. Each level looks at the image with the faces found so far masked out (see
    :func:`masked`), which also keeps a face found whole from coming back cut in half by a tile edge. A tile
    magnifies texture too (hair, a dark edge pass for a face at ~0.65), so a tile's detection is kept only when
    ``verifier`` also finds a face in a crop around it (twice the box side, at 256 px: the face fills half of it).
    """

    def __init__(self, detector: FaceDetector, verifier: FaceDetector, tile: int = 384) -> None:
        self.detector = detector
        self.verifier = verifier
        self.tile = tile
        self.name = f"{detector.name} (tiled)"

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        h, w = image.shape[:2]
        found = self.detector.detect(image)
        if video:
            return found
        for size in reversed(self._levels(max(h, w))):
            view = masked(image, found)
            found += [
                det for y in tile_starts(h, size) for x in tile_starts(w, size)
                for det in self._in_tile(view, x, y, size) if self._verified(image, det)
            ]
        return found

    def _in_tile(self, image: np.ndarray, x: int, y: int, size: int) -> list[Detection]:
        """Faces in the tile at (x, y), in full-image pixels."""
        shift = np.array([x, y, x, y], np.float32)
        return [replace(d, box=d.box + shift) for d in self.detector.detect(image[y : y + size, x : x + size])]

    def _verified(self, image: np.ndarray, det: Detection, crop_size: int = 256) -> bool:
        """Whether ``verifier`` finds a face near the centre of a crop around ``det`` (see the class docstring)."""
        crop, _ = around(image, det.box, crop_size)
        return any(centre_in_middle(d.box, crop_size) for d in self.verifier.detect(crop))

    def _levels(self, longer_side: int) -> list[int]:
        """Tile sides ``tile``, 2 x ``tile``, ... until the whole image takes over.

        A level of side s finds faces from ~s/10 (20 px at the model's 192 px input) up to s/4 (the tile overlap);
        the whole image finds them from ~1/10 of its longer side, so doubling stops once s/4 reaches that.
        """
        sizes = [self.tile] if self.tile < longer_side else []
        while sizes and sizes[-1] / 4 < longer_side / 10:
            sizes.append(sizes[-1] * 2)
        return sizes


#: The turns (degrees) of the crops :class:`OrientedDetector` looks at each face through.
QUARTER_TURNS = (0.0, 90.0, 180.0, 270.0)
#: How much surer than the turn that agrees with the detector's own roll another turn must be to win (see
#: :class:`OrientedDetector`).
TRUST_MARGIN = 0.05


class OrientedDetector(FaceDetector):
    """``detector``'s faces, each with its roll at any angle and the box ``orienter`` draws around it upright.

    Why: BlazeFace finds a face lying on its side or upside down, but its eye keypoints (so
    :attr:`Detection.angle`) are right only up to ~60 deg of roll; beyond, they point the wrong way (on 300-W val
    faces turned by 90 deg: 48 deg off on average, by 135-180 deg: ~170 deg off). The landmark model, trained on
    faces within +-30 deg, then sees a first crop of a face on its side and fails (90% of those faces). So each face
    is looked at through crops turned by each quarter turn; ``orienter`` (the short-range model, whose boxes the
    crops were calibrated on) is mostly surest in the turn nearest upright, where its keypoints are right, and that
    turn plus the eye line it sees there is the face's roll. Mostly: now and then it scores a face upside down a
    little higher, so the turn that agrees with the detector's own roll keeps the face unless another is surer by
    :data:`TRUST_MARGIN`. On 300-W faces turned by 0-180 deg (120 val and 120 train images, 11 angles each), that
    margin left 3 of the 1,320 val rolls and 2 of the 1,320 train ones more than 30 deg off, at most 2 of 120 at
    any angle (median error 1.5-2.5 deg), where the surest turn alone left 5 and 4, and the detector's own roll
    failed from 90 deg on (margins tried: 0.02-0.15, chosen on the val images, confirmed on the train ones). The
    turns it did not choose go with the face (``Detection.others``, each with its own box and roll): a blurred
    upright face now and then scores higher on its side, and the landmark model, which can tell a face it cannot
    read, then tries them (:meth:`~kpdemo.detection.checkpoint.CheckpointPredictor.first_answers`).

    A face no turn confirms is dropped: BlazeFace's false faces (a helmet visor, a badge on a suit, seen on the
    astronaut photo turned) are faces from no side, while every one of those 2,640 real faces was confirmed. So the
    detectors that follow in a :class:`FallbackDetector` get their chance when all a detector found was false.
    Costs four small BlazeFace calls per face (~4.5 ms on this CPU): on a webcam stream only its full detections
    pay it (when the faces in view change), the other frames follow the head from frame to frame, and a stream's
    rechecks take the detector's quick look (:meth:`glance`), unoriented.
    """

    def __init__(self, detector: FaceDetector, orienter: FaceDetector, crop_size: int = 192) -> None:
        self.detector = detector
        self.orienter = orienter
        self.crop_size = crop_size
        self.name = f"{detector.name} (oriented)"

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        oriented = (self.orient(image, det) for det in self.detector.detect(image, video))
        return [det for det in oriented if det is not None]

    def _glance(self, image: np.ndarray) -> list[Detection]:
        """The detector's faces unoriented: a stream that follows them knows their roll from their points."""
        return self.detector.glance(image)

    def orient(self, image: np.ndarray, det: Detection) -> Detection | None:
        """``det`` with the roll and box of the centred face ``orienter`` sees through the quarter turns (the turn
        nearest the detector's own roll unless another is surer by :data:`TRUST_MARGIN`), the other turns that see
        it as its ``others``; None if it sees none."""
        views: dict[float, tuple[Detection, np.ndarray]] = {}
        for turn in QUARTER_TURNS:
            crop, matrix = around(image, det.box, self.crop_size, turn)
            centred = [seen for seen in self.orienter.detect(crop) if centre_in_middle(seen.box, self.crop_size)]
            if centred:
                views[turn] = (max(centred, key=lambda seen: seen.score), matrix)
        if not views:
            return None
        surest = max(views, key=lambda turn: views[turn][0].score)
        agreeing = min(QUARTER_TURNS, key=lambda turn: abs(wrapped(det.angle - turn)))
        trusted = agreeing in views and views[agreeing][0].score >= views[surest][0].score - TRUST_MARGIN
        chosen = agreeing if trusted else surest
        others = sorted((turn for turn in views if turn != chosen), key=lambda turn: -views[turn][0].score)
        return replace(self._seen_at(det, chosen, *views[chosen]),
                       others=tuple(self._seen_at(det, turn, *views[turn]) for turn in others))

    @staticmethod
    def _seen_at(det: Detection, turn: float, seen: Detection, matrix: np.ndarray) -> Detection:
        """``det`` as the face ``seen`` in the crop turned by ``turn`` (cut by ``matrix``) places it: that view's
        box, upright, in image pixels, its calibration and the roll it gives."""
        x0, y0, x1, y1 = (float(v) for v in seen.box)
        centre = crop_to_image(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]), matrix)[0]
        half = np.sqrt((x1 - x0) * (y1 - y0)) / np.hypot(*matrix[0, :2]) / 2  # crop px -> image px
        box = np.concatenate([centre - half, centre + half]).astype(np.float32)
        return Detection(box, det.score, det.detector, seen.calibration, wrapped(turn + seen.angle))


class TurnedDetector(FaceDetector):
    """``detector`` on the whole image turned by 90, 180 and 270 degrees: the faces of the first turn that finds any,
    in the image's pixels, their roll turned back.

    Why: BlazeFace misses some faces rolled past ~120 deg (a photo upside down, a person lying head-first towards
    the camera); one of the quarter turns brings each such face within its reach.
    """

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self.name = f"{detector.name} (turned)"

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        h, w = image.shape[:2]
        for turn in QUARTER_TURNS[1:]:
            out_hw = (h, w) if turn == 180.0 else (w, h)
            matrix = crop_matrix(w / 2, h / 2, out_hw[0], out_hw, turn)  # scale 1: only turned
            turned = cv2.warpAffine(image, matrix, out_hw[::-1], flags=cv2.INTER_NEAREST)
            found = self.detector.detect(turned, video)
            if found:
                return [self._back(det, matrix, turn) for det in found]
        return []

    @staticmethod
    def _back(det: Detection, matrix: np.ndarray, turn: float) -> Detection:
        corners = crop_to_image(det.box.reshape(2, 2).astype(np.float64), matrix)
        box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
        return Detection(box, det.score, det.detector, det.calibration, wrapped(turn + det.angle))


class PaddedDetector(FaceDetector):
    """``detector`` on the image with a black border ``pad`` x its longer side wide on every edge; boxes in the
    image's pixels (they may reach past its edges).

    Why: a face cut by the frame (a webcam user close to the camera, a selfie, a tight crop) is often missed by
    BlazeFace, which learnt faces with some context around them. On 84 300-W val faces framed by a window 0.8 /
    0.7 x the face's landmark box (``bench/closeup.py``'s ``framed``), the photo detector found 76% / 43%; the
    short-range model alone in a black border found 99% / 88% (border 0.25), 99% / 92% (0.4), 100% / 92% (0.6,
    the default; at a window of 0.6: 38%, 36%, 52%); the full-range model far fewer (41% / 8% at 0.25). A
    replicated border finds fewer than a black one (tried at 0.25). The landmark crop then reaches past the image,
    filled black as training crops were.
    """

    def __init__(self, detector: FaceDetector, pad: float = 0.6) -> None:
        self.detector = detector
        self.pad = pad
        self.name = f"{detector.name} (padded)"

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        border = round(self.pad * max(image.shape[:2]))
        padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        shift = np.float32(border)
        return [replace(det, box=det.box - shift) for det in self.detector.detect(padded, video)]


#: Noise (grey levels) above which a picture counts as noisy: above every clean 300-W validation face (at most 10.9
#: by :func:`noise_level`, median 0.7) and below the faces of ``bench/low_light.py`` at light 1/32 (18 and up).
NOISE_GATE = 12.0
#: The smoothing a noisy picture gets before detection (Gaussian sigma, px), chosen on 300-W validation faces.
DENOISE_SIGMA = 3.0
#: Immerkaer's noise operator: the difference of two Laplacians, blind to a picture's planes and ramps.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(image: np.ndarray) -> float:
    """The standard deviation of a picture's pixel noise, in grey levels (Immerkaer's operator, with the median
    absolute response rather than the mean, so that the fine texture of hair or fabric does not pass for noise)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    response = cv2.filter2D(grey.astype(np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1]
    if response.size == 0:  # under 3 px a side: no pixel has the neighbours the operator reads
        return 0.0
    return float(np.median(np.abs(response)) / 0.6745 / 6.0)  # the operator multiplies a noise's sigma by 6


class DenoisedDetector(FaceDetector):
    """``detector`` on a Gaussian-smoothed copy of a noisy picture; no faces for a clean one (a fallback).

    Why: in dim light a camera turns up its gain and the picture fills with colour speckle, which BlazeFace, shrinking
    the whole picture to its input without averaging, takes for texture. On the 168 300-W validation faces
    photographed with 1/32 and 1/64 of the light, the photo path found 82.7% / 47.6% of them without this step and
    99.4% / 97.0% with it (``python bench/low_light.py --split val --models checkpoint:ibug68_pip``). The sigma came
    from a probe on 60 of them, the whole detector on a smoothed copy: at 1/64, sigma 1 / 2 / 3 px found 93 / 98 /
    100%, and at 300 px in a 640x480 frame 95 / 100 / 100% (75% unsmoothed), webcam mode alike. A clean picture is
    left alone (``NOISE_GATE``): smoothing cannot show a face that sharpness hid, and the results on clean pictures
    stay those of the detectors before this one. Boxes and rolls are the copy's: smoothing moves no pixel.
    """

    def __init__(self, detector: FaceDetector, sigma: float = DENOISE_SIGMA, gate: float = NOISE_GATE) -> None:
        self.detector = detector
        self.sigma = sigma
        self.gate = gate
        self.name = f"{detector.name} (denoised)"

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        if noise_level(image) < self.gate:
            return []
        return self.detector.detect(cv2.GaussianBlur(image, (0, 0), self.sigma), video)


class MergedDetector(FaceDetector):
    """Every detector's faces together, duplicates suppressed with the earlier detector's box winning."""

    def __init__(self, detectors: list[FaceDetector]) -> None:
        self.detectors = detectors
        self.name = " + ".join(d.name for d in detectors)

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        found = [det for detector in self.detectors for det in detector.detect(image, video)]
        return sorted(suppress_duplicates(found), key=lambda d: -d.score)


class FallbackDetector(FaceDetector):
    """Tries detectors in order and returns the first non-empty result."""

    def __init__(self, detectors: list[FaceDetector]) -> None:
        self.detectors = detectors
        self.name = " -> ".join(d.name for d in detectors)

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        return self._first(lambda detector: detector.detect(image, video))

    def _glance(self, image: np.ndarray) -> list[Detection]:
        """The detectors' quick looks in turn, the first that sees a face: a face too small for the first (the
        short-range model, on a wide frame) is seen by the next, whose look costs one call more."""
        return self._first(lambda detector: detector.glance(image))

    def _first(self, find: Callable[[FaceDetector], list[Detection]]) -> list[Detection]:
        for detector in self.detectors:
            found = find(detector)
            if found:
                return found
        return []


class DownscaledDetector(FaceDetector):
    """``detector`` on a copy of an image whose longer side exceeds ``max_side``, shrunk to it (area resampling);
    boxes in the image's pixels. Smaller images go to ``detector`` as they are.

    Why: the photo detector's tile levels grow with the image, so a camera's full frame handed to ``predict`` as an
    array cost seconds (the astronaut upscaled to 3,000 / 6,000 px: 1.1 / 4.9 s to detect, against 0.4 s at 1,600
    px), for faces that are found at 1,600 px too: ``read_image`` and the app bound every upload to that size
    (:data:`~kpdemo.detection.images.MAX_SIDE`), and every benchmark image is under it. The landmark model still cuts
    its crops from the full image. The price: faces under ~40 px at 1,600 px (under 150 px of a 6,000 px picture)
    are not sought; a caller who needs them passes ``detector`` itself, or the boxes (``predict_in_boxes``).
    """

    def __init__(self, detector: FaceDetector, max_side: int = MAX_SIDE) -> None:
        self.detector = detector
        self.max_side = max_side
        self.name = detector.name

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        return self._shrunk(image, lambda small: self.detector.detect(small, video))

    def _glance(self, image: np.ndarray) -> list[Detection]:
        return self._shrunk(image, self.detector.glance)

    def _shrunk(self, image: np.ndarray, find: Callable[[np.ndarray], list[Detection]]) -> list[Detection]:
        """``find`` on the image shrunk to ``max_side`` when it is larger, its boxes in the image's pixels."""
        h, w = image.shape[:2]
        scale = self.max_side / max(h, w)
        if scale >= 1:
            return find(image)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        back = np.array([w / size[0], h / size[1]] * 2, np.float32)  # per axis: rounding the size moves it a hair
        return [det.scaled(back) for det in find(small)]


class PhotoVideoDetector(FaceDetector):
    """One detector for uploaded photos (thorough) and another for webcam frames (fast), picked by ``video``."""

    def __init__(self, photo: FaceDetector, video: FaceDetector) -> None:
        self.photo = photo
        self.video = video
        self.name = photo.name

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        return (self.video if video else self.photo).detect(image, video)

    def _glance(self, image: np.ndarray) -> list[Detection]:
        return self.video.glance(image)


def photo_detector(short: FaceDetector, full: FaceDetector, fallback: FaceDetector) -> FaceDetector:
    """Short-range on the whole image plus tiled full-range, merged; when that finds no face, the same on a
    smoothed copy of a noisy picture (dim light), then short range on the image in a black border (a face cut by
    the frame), then both models on the image turned by quarter turns; ``fallback`` only when none of those finds a
    face. Faces oriented by ``short`` (:class:`OrientedDetector`), which also drops the false ones."""
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
    (:class:`DownscaledDetector`).

    Both modes share the three detectors, so each MediaPipe graph is built once.
    """
    short, full, haar = MediaPipeFaceDetector(0), MediaPipeFaceDetector(1), HaarFaceDetector()
    both = PhotoVideoDetector(photo=photo_detector(short, full, haar), video=video_detector(short, full, haar))
    return DownscaledDetector(both)
