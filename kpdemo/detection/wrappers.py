"""Detectors built from other detectors: each runs one or more :class:`~kpdemo.detection.detector.FaceDetector`
on a changed view of the image (tiles, quarter turns, a black border, a smoothed or shrunk copy) or combines their
answers (merged, first non-empty, photo vs video), and brings boxes back to the image's pixels.

Why its own module: each wrapper answers one way BlazeFace misses faces (small, rolled, cut by the frame, in dim
light, in a huge image) and composes with the others; :mod:`kpdemo.detection.pipelines` assembles them into the
default detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from kpdemo.detection.boxes import around, centre_in_middle, masked, suppress_duplicates, tile_starts
from kpdemo.detection.crops import crop_matrix, crop_to_image, wrapped
from kpdemo.detection.detector import Detection, FaceDetector
from kpdemo.detection.images import MAX_SIDE


class TiledDetector(FaceDetector):
    """Runs ``detector`` on the whole image, then (photos only) on overlapping tiles of ..., 2 x ``tile``, ``tile`` px.

    Each tile is resized to the model's 192 px input, so a face that is too small a share of the whole image is a
    large enough share of a tile. Each level looks at the image with the faces found so far masked out (see
    :func:`~kpdemo.detection.boxes.masked`), which also keeps a face found whole from coming back cut in half by a
    tile edge. A tile magnifies texture too (hair, a dark edge pass for a face at ~0.65), so a tile's detection is
    kept only when ``verifier`` also finds a face in a crop around it (twice the box side, at 256 px: the face fills
    half of it).
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
