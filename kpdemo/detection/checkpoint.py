"""Landmark predictor for kpdemo checkpoints: detect faces, cut each the way training did, run the net, map back.

Training crops are squares centred on the 68-point landmark box, side ``meta.crop_scale`` x its longer side (see
:func:`kpdemo.datasets.kaggle15.crop_face`: warp at twice the size, then area-downsample). At run time no landmarks
exist yet, so the landmark box is estimated from the face detector's box with the detector's fitted
:class:`~kpdemo.detection.detector.BoxCalibration`. A non-square input (e.g. 80x60) uses a window of the same aspect,
``crop_scale`` x the box side tall. Once a face has points, a model with ``meta.refine`` cuts its next crop around
them instead (a photo's refine passes, a webcam stream's next frame): around their own box, or, for a model trained
on crops cut around points it does not predict (``kaggle15``), around the box ``meta.own_box`` estimates from it.

The network runs on ONNX Runtime when a fresh export sits beside the checkpoint (see
:mod:`kpdemo.detection.onnx_backend`), on PyTorch otherwise; both give the same points. Live webcam frames
(:meth:`CheckpointPredictor.track` and ``predict(video=True)``) run the export's int8 twin when there is a fresh one
and the CPU runs int8 faster than float (:func:`kpdemo.detection.cpu.live_frames_use_int8`); where it does not, they
run the checkpoint's live-frame companion if one sits beside it (``<stem>_live.pt``: a slimmer network of the same
points and crops, :func:`live_companion_path`; :func:`kpdemo.detection.cpu.live_frames_use_companion`).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from kpdemo.checkpoints import CheckpointError, CheckpointMeta
from kpdemo.detection.base import Face, LandmarkPredictor, points_box
from kpdemo.detection.cpu import live_frames_use_companion, live_frames_use_int8
from kpdemo.detection.crops import crop_matrix, crop_to_image, own_landmark_box, upright_angle, wrapped
from kpdemo.detection.detector import GIVEN_BOX, Detection, FaceDetector
from kpdemo.detection.onnx_backend import load_fresh_export, onnx_path
from kpdemo.detection.pipelines import default_detector
from kpdemo.detection.wrappers import QUARTER_TURNS
from kpdemo.schemas import flip_horizontal, get_schema


def network_to_crop(output: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Network output (..., K*2) in [-1, 1]-spans-the-crop units -> (..., K, 2) crop pixels (continuous)."""
    pts = output.reshape(*output.shape[:-1], -1, 2)
    half = np.array([out_hw[1], out_hw[0]], np.float32) / 2
    return (pts + 1) * half


def cut_crop(image: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int], channels: int) -> np.ndarray:
    """The model's input crop (H, W) or (H, W, 3) uint8, resampled as in training: warp at 2x, area-downsample."""
    src = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if channels == 1 else image
    big = matrix.copy()
    big[:, :2] *= 2
    big[:, 2] = 2 * (matrix[:, 2] + 0.5) - 0.5  # same window at twice the resolution
    out_h, out_w = out_hw
    warped = cv2.warpAffine(src, big, (2 * out_w, 2 * out_h), flags=cv2.INTER_LINEAR, borderValue=0)
    return cv2.resize(warped, (out_w, out_h), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class PhotoRecipe:
    """How a photo's faces are refined after the detector-box pass (models with ``meta.refine``).

    Each of ``passes`` refine passes cuts crops around the previous answer as training crops were cut, one per view
    (every ``scales`` x ``angles`` pair: the window's size relative to the training crop, and its extra turn in
    degrees), each also mirrored when ``mirror``; the views' answers, mapped back to the image, are averaged.
    ``upright`` turns every refine crop so that the previous answer's eyes are level (schemas with eyes).
    """

    passes: int = 1
    upright: bool = False
    scales: tuple[float, ...] = (1.0,)
    angles: tuple[float, ...] = (0.0,)
    mirror: bool = True

    @property
    def views(self) -> list[tuple[float, float]]:
        """(scale, turn) of each crop a refine pass cuts per face (before mirroring)."""
        return [(scale, turn) for scale in self.scales for turn in self.angles]

    @property
    def crops_per_face(self) -> int:
        """Network inputs per face on a photo: the detector-box crop and its mirror image (the roll check of
        :meth:`CheckpointPredictor.first_answers`) plus every refine view (x2 when mirrored); a checkpoint with a
        live-frame companion also shows it one crop, ~3x cheaper (:meth:`CheckpointPredictor.second_opinions`)."""
        return 2 + self.passes * len(self.views) * (2 if self.mirror else 1)


#: The photo path's recipe: two refine passes on crops turned upright on the previous answer's eye line, each the
#: mean of the crop turned by -10, 0, +10 degrees and their mirror images (14 network crops a face with the first
#: crop's mirror image, which checks the face's roll; 4 batched calls).
#: Chosen on validation faces only (``python bench/photo_path.py``, ``bench/results/photo_path_val.csv``), against
#: one plain refine pass with its mirror (the recipe before), for the shipped 68-point model: 300-W val NME 3.62 ->
#: 3.52% (-2.8%), the same faces tilted +-25 deg 3.75 -> 3.51%, +-40 deg 4.48 -> 3.54% (with the first-cycle model,
#: where it was picked: -1.6%, -8.0%, -27%; with the shipped soup the only recipe ahead on all three sets adds scale
#: views, 37 crops, for at most 0.01 points); IMM val -1.1% (+-40 deg: -32%). Why: a detector box and a
#: first answer only roughly place a turned face; a crop cut upright, as most training faces were, is easier, and
#: the second upright pass starts from better eyes. More plain passes did not help, scale views not enough to pay
#: for their crops; turn views help only around an upright crop (alone they push a tilted face past the +-30 deg
#: the model was trained on).
PHOTO_RECIPE = PhotoRecipe(passes=2, upright=True, angles=(-10.0, 0.0, 10.0))

#: A first crop whose points stray from their mirror twins' by more than this share of the crop's width (mean over
#: the points) is doubted, and the face's other rolls are tried (:meth:`CheckpointPredictor.first_answers`). Set
#: between the two groups seen on the 300-W and YouTube-Faces validation faces, upright and turned by 90 deg: up to
#: 1.8% for crops at the face's roll, 4% and more for crops a quarter turn off.
ROLL_DOUBT = 0.025


#: What a checkpoint's live-frame companion adds to its stem (``ibug68_pip.pt`` -> ``ibug68_pip_live.pt``).
LIVE_SUFFIX = "_live"
#: What a live-frame companion must share with its checkpoint, so that both read the same crops the same way.
SHARED_INPUT = ("schema", "input_size", "in_channels", "pixel_mean", "pixel_std", "crop_scale", "refine", "own_box")


def _same_form(value: object) -> object:
    """A metadata value in a comparable form (a JSON round trip makes tuples lists)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def live_companion_path(checkpoint: Path) -> Path:
    """Where a checkpoint's live-frame companion lives: beside it, ``<stem>_live.pt``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}{LIVE_SUFFIX}{checkpoint.suffix}")


#: A detection is the face a stream follows (:func:`same_face`) when its estimated landmark box is centred within
#: this share of the followed face's box side, ...
GLANCE_CENTRE = 0.3
#: ... its side within this factor of that side, ...
GLANCE_SIDE = 1.5
#: ... and its roll within this many degrees of the followed face's eye line.
GLANCE_ROLL = 45.0


def same_face(detection: Detection, box: tuple[float, float, float], roll: float) -> bool:
    """Whether ``detection`` is the face a stream follows, whose landmark box is ``box`` (centre x, centre y, side:
    :meth:`CheckpointPredictor.landmark_box`) and eye line at ``roll`` degrees, by where and how large the detector's
    calibrated box puts its landmarks and by its roll. Loose bounds: the short-range
    model's calibrated centre lies 0.08 box sides from the true one for 9 in 10 faces (``bench/calibrate_face_box.py``),
    faces in one frame rarely overlap, and BlazeFace's roll is right within ~60 deg of upright only, so a face
    rolled further fails the roll test and is detected in full, as before the quick look."""
    cx, cy, side = box
    dx, dy, dside = detection.landmark_box()
    return (float(np.hypot(dx - cx, dy - cy)) <= GLANCE_CENTRE * side
            and max(dside / side, side / dside) <= GLANCE_SIDE
            and abs(wrapped(detection.angle - roll)) <= GLANCE_ROLL)


#: A tracked face's next crop is cut around its points moved on by this share of how far they moved the frame before
#: (:attr:`~kpdemo.detection.base.Face.motion`): a crop cut where the face was lags a moving head, and the model,
#: trained on centred crops, lags with it. Half, not all: a head slows and turns back.
TRACK_LEAD = 0.5
#: A tracked face whose answer lies more than this share of its landmark-box side from where its crop expected it
#: is read again from a crop cut around that answer (a head faster than the lead foresaw).
#: Both chosen on 60 300-W val clips (``bench/tracking.py --split val``), against reading every frame twice: heads
#: swinging up to 16 px a frame (a 160 px face): NME 3.55% without the lead, 3.48% with it, as with two reads, in
#: one read (median 15.4 vs 30.5 ms here); up to 32 px: 3.51% (two reads nearly every frame) -> 3.54% in 16.0 ms;
#: a full lead gave 3.48 / 3.57%, a re-read threshold of 0.05 read most frames twice.
TRACK_SETTLE = 0.1


def face_size(points: np.ndarray) -> float:
    """The longer side of a face's points' box (pixels; at least 1e-6): the size a face's uncertainty is a share of,
    for both of its spreads (:meth:`CheckpointPredictor.spreads`, :meth:`CheckpointPredictor.second_opinions`)."""
    return max(float(np.ptp(points, 0).max()), 1e-6)


class CheckpointPredictor(LandmarkPredictor):
    """A kpdemo checkpoint plus a face detector (any :class:`FaceDetector` plug-in; default :func:`default_detector`).

    ``backend`` says what runs the network: ``"onnxruntime"`` (a ``.onnx`` beside the checkpoint, made from it) or
    ``"torch"``. The checkpoint is loaded either way: it carries the metadata and is what errors are reported against.

    ``video_backend`` is what runs it on live frames: ``"onnxruntime-int8"`` where a fresh ``.int8.onnx`` sits beside
    the checkpoint and the CPU has int8 dot products (:func:`~kpdemo.detection.cpu.live_frames_use_int8`), else the
    same as ``backend``. Why int8 there only: a webcam frame must fit MediaPipe's budget (the int8 network is ~2x
    faster on a VNNI CPU: 68-point PIP 3.8 -> 1.9 ms), and its cost, +0.3% relative NME on 300-W validation faces
    and 0.18 px mean shift, is far below a live frame's jitter; photos get the float network (and the refine passes
    of :data:`PHOTO_RECIPE`), where accuracy matters and a few ms do not. On a CPU without int8 dot products the int8
    network is no faster (15.2 vs 13.8 ms a face, ``bench/results/onnx_int8.csv``), so live frames keep the float one
    too. Both frame kinds of a stream (re-detection and tracking) take the same network, so the points do not step
    when one follows the other.

    A live-frame companion beside the checkpoint (:func:`live_companion_path`) runs the live frames instead where the
    CPU lacks int8 dot products (:func:`~kpdemo.detection.cpu.live_frames_use_companion`; ``live=True`` takes it on
    any CPU, ``live=False`` never), on its own export as above. Companions are the same network at half width, ~3x
    cheaper a face, so a webcam frame costs less than MediaPipe's on CPUs where the full network costs more than
    MediaPipe's whole frame. The 68-point model's is seeded with its channels and fine-tuned (``pip_r18_live`` in
    ``trainers/grids/landmarks.py``): on 300-W validation clips it follows a moving face at 3.5% NME on the common
    anchors against the full network's 2.9% and MediaPipe's 4.1% (``bench/results/tracking_val.csv``). The IMM
    model's (``imm73_live_distill``) learnt wild faces from the full network's answers on them, and followed them as
    well as the IMM model it learnt from (4.6% against 4.7%); the IMM model since retrained on wild faces does a
    little better (4.5%, ``bench/results/tracking_val_imm73.csv``). Photos keep the full network, and ask the
    companion only for a second opinion on each face's uncertainty (:meth:`refine`), on every CPU.
    """

    def __init__(self, path: Path, name: str | None = None, detector: FaceDetector | None = None,
                 live: bool | None = None) -> None:
        from kpdemo.models import load_model

        self.path = Path(path)
        try:
            self.model, self.meta = load_model(self.path)
            self.schema = get_schema(self.meta.schema)
        except KeyError as exc:
            raise CheckpointError(f"{self.path.name}: {exc.args[0]}") from None
        except RuntimeError as exc:  # state_dict does not fit the architecture its meta names
            first_line = str(exc).splitlines()[0][:200]
            raise CheckpointError(f"{self.path.name}: weights do not fit the model it names ({first_line})") from None
        self.name = name or self.path.stem
        if detector is not None and not callable(getattr(detector, "detect", None)):
            raise TypeError(f"detector must be a FaceDetector such as HaarFaceDetector(), got {detector!r}")
        self.detector = detector or default_detector()
        self.recipe = PHOTO_RECIPE  # what predict() does on photos; a bench may try others
        self._lock = threading.Lock()
        self.backend, self._network = self._pick_backend()
        self._check_output_size(self._network)
        companion = self._live_companion()
        # a photo's second opinion: the companion's float network, on every CPU (see refine)
        self._second_opinion = companion._network if companion is not None else None
        if not (live_frames_use_companion() if live is None else live):
            companion = None
        self.live_network = companion.name if companion is not None else None
        self.video_backend, self._video_network = (
            (f"{companion.video_backend} ({companion.name})", companion._video_network) if companion is not None
            else self._pick_video_backend())

    def _live_companion(self) -> CheckpointPredictor | None:
        """The live-frame companion beside the checkpoint, when there is one that reads the same crops the same
        way (:data:`SHARED_INPUT`); a companion that cannot be used is skipped with a warning. Loaded on every CPU:
        photos ask it for a second opinion even where live frames do not run on it."""
        path = live_companion_path(self.path)
        if not path.is_file():
            return None
        try:
            companion = CheckpointPredictor(path, detector=self.detector, live=False)
        except CheckpointError as exc:
            warnings.warn(f"{path.name} not used: {exc}", RuntimeWarning, stacklevel=3)
            return None
        differ = [key for key in SHARED_INPUT if _same_form(getattr(companion.meta, key))
                  != _same_form(getattr(self.meta, key))]
        if differ:
            warnings.warn(f"{path.name} not used: its {', '.join(differ)} differ from "
                          f"{self.path.name}'s", RuntimeWarning, stacklevel=3)
            return None
        return companion

    def _fresh_export(self, int8: bool) -> Callable[[np.ndarray], np.ndarray] | None:
        """A fresh export that loads and takes this checkpoint's input; None (with a warning when one exists but
        cannot be used) otherwise."""
        try:
            network = load_fresh_export(self.path, int8)
            if network is not None:
                network(self._zeros())  # an export for another input shape fails here rather than on a user's image
            return network
        except Exception as exc:  # ImportError without onnxruntime; its own error types for a bad graph
            instead = "the float network" if int8 else "PyTorch"
            warnings.warn(f"{onnx_path(self.path, int8).name} not used ({type(exc).__name__}: {str(exc)[:200]}); "
                          f"running {self.path.name} on {instead}", RuntimeWarning, stacklevel=4)
            return None

    def _pick_backend(self) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
        """ONNX Runtime on a fresh export; PyTorch otherwise."""
        network = self._fresh_export(int8=False)
        return ("onnxruntime", network) if network is not None else ("torch", self._run_torch)

    def _pick_video_backend(self) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
        """The int8 export for live frames when the CPU runs it faster and a fresh one loads and gives this schema's
        points; else the float network (see the class docstring)."""
        network = self._fresh_export(int8=True) if live_frames_use_int8() else None
        if network is None:
            return self.backend, self._network
        self._check_output_size(network)
        return "onnxruntime-int8", network

    def _run_torch(self, batch: np.ndarray) -> np.ndarray:
        with self._lock, torch.no_grad():  # torch modules are not re-entrant-safe across Gradio's worker threads
            return self.model(torch.from_numpy(batch)).numpy()

    def _zeros(self) -> np.ndarray:
        return np.zeros((1, self.meta.in_channels, *self.input_hw), np.float32)

    def _check_output_size(self, network: Callable[[np.ndarray], np.ndarray]) -> None:
        out = network(self._zeros())
        if out.shape != (1, self.schema.num_points * 2):
            raise CheckpointError(
                f"{self.path.name} outputs {tuple(out.shape[1:])} values, but its {self.schema.id!r} schema needs "
                f"{self.schema.num_points * 2}"
            )

    @property
    def input_hw(self) -> tuple[int, int]:
        return int(self.meta.input_size[0]), int(self.meta.input_size[1])

    def crop_for(self, detection: Detection) -> np.ndarray:
        """The crop affine for one detected face (window = crop_scale x the estimated landmark box), turned by the
        face's roll so the model sees it upright, as it saw most training faces (it was trained within +-30 deg)."""
        cx, cy, landmark_side = detection.landmark_box()
        return crop_matrix(cx, cy, self.meta.crop_scale * landmark_side, self.input_hw, detection.angle)

    def predict_crops(self, crops: np.ndarray, video: bool = False) -> np.ndarray:
        """(N, H, W[, C]) uint8 crops -> (N, K, 2) crop-pixel points (``video``: on the live-frame network)."""
        return self._read_crops(crops, self._video_network if video else self._network)

    def _read_crops(self, crops: np.ndarray, network: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        meta: CheckpointMeta = self.meta
        x = crops.astype(np.float32) / 255.0
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        x = (x - meta.pixel_mean) / meta.pixel_std
        return network_to_crop(network(np.ascontiguousarray(x, dtype=np.float32)), self.input_hw)

    def crop_around(self, points: np.ndarray, scale: float = 1.0, angle: float = 0.0) -> np.ndarray:
        """The crop affine cut exactly as in training: ``crop_scale`` x the box of (predicted) points, centred.

        ``scale`` widens the window by that factor; ``angle`` (degrees) turns it with the image, the box then
        being taken in the turned frame (so an ``angle`` equal to the eye line's gives the crop of an upright face).
        """
        cx, cy, side = self.landmark_box(points, angle)
        return crop_matrix(cx, cy, self.meta.crop_scale * side * scale, self.input_hw, angle)

    def landmark_box(self, points: np.ndarray, angle: float = 0.0) -> tuple[float, float, float]:
        """(centre x, centre y, side) of the landmark box that training crops were cut around, for a face at these
        (predicted) points, taken in a frame turned by ``angle`` degrees: the box of the points themselves, moved and
        scaled by ``meta.own_box`` for a model trained on crops cut around other points (``kaggle15``)."""
        return own_landmark_box(points, self.meta.own_box, angle)

    def crop_points(self, image: np.ndarray, matrices: list[np.ndarray], mirror: bool = False,
                    video: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, K, 2) crop-pixel points of the crops the matrices cut (one batched network call; ``video``: on the
        live-frame network) and, with ``mirror``, the same from the mirrored crops, mapped back through the schema's
        flip permutation (their mirror twins; else None)."""
        crops = np.stack([cut_crop(image, m, self.input_hw, self.meta.in_channels) for m in matrices])
        points = self.predict_crops(crops, video)
        if not mirror:
            return points, None
        mirrored = self.predict_crops(np.ascontiguousarray(crops[:, :, ::-1]), video)
        return points, flip_horizontal(mirrored, self.input_hw[1], self.schema)

    def points_in(self, image: np.ndarray, matrices: list[np.ndarray], mirror: bool = False,
                  video: bool = False) -> list[np.ndarray]:
        """Full-image points of the faces in the given crop windows (``video``: on the live-frame network).

        ``mirror`` also runs the mirrored crops and averages each point with its mirror twin's estimate: test-time
        flip averaging, ~1.4% lower NME on 300-W validation faces for the PIP 68-point model, at twice the compute,
        so photos only."""
        return self.in_image(*self.crop_points(image, matrices, mirror, video), matrices)

    @staticmethod
    def in_image(points: np.ndarray, twins: np.ndarray | None, matrices: list[np.ndarray]) -> list[np.ndarray]:
        """Full-image points of crop answers (:meth:`crop_points`' pair), each averaged with its mirror twin's
        when there is one."""
        if twins is not None:
            points = (points + twins) / 2
        return [crop_to_image(p, m) for p, m in zip(points, matrices, strict=True)]

    def doubt(self, points: np.ndarray, twins: np.ndarray) -> np.ndarray:
        """Per crop, how far its points lie from their mirror twins' (mean distance, in crop widths): small for a
        face the model can read, large for one it cannot (see :meth:`first_answers`)."""
        return np.linalg.norm(points - twins, axis=-1).mean(-1) / self.input_hw[1]

    def first_answers(self, image: np.ndarray, detections: list[Detection],
                      video: bool) -> tuple[list[Detection], list[np.ndarray]]:
        """Each face's detection and the full-image points of its first crop (cut by the detector's box and roll).

        Why a check: :class:`~kpdemo.detection.wrappers.OrientedDetector` now and then takes an upright face, blurred
        or small, for one turned by a quarter (one face in ~600 on the 300-W and YouTube-Faces validation faces),
        and a crop turned by 90 deg shows the model, trained within +-30 deg, a face it cannot read: every point is
        then wrong. Its answer then also disagrees with its answer on the mirrored crop (:meth:`doubt`: 0.5-1.8%
        of the crop's width for faces at the right roll on those faces, 4-15% for crops a quarter turn or more
        off). So when a first crop's doubt passes :data:`ROLL_DOUBT` and the detector saw the face at other rolls
        (``Detection.others``), their first crops are read too, and the least doubtful wins if its doubt is under
        half the first's. The answers kept are the unmirrored crops', as without the check."""
        matrices = [self.crop_for(d) for d in detections]
        points, twins = self.crop_points(image, matrices, mirror=True, video=video)
        doubts = self.doubt(points, twins)
        chosen, answers = list(detections), [crop_to_image(p, m) for p, m in zip(points, matrices, strict=True)]
        for i, det in enumerate(detections):
            if doubts[i] <= ROLL_DOUBT or not det.others:
                continue
            other_matrices = [self.crop_for(other) for other in det.others]
            other_points, other_twins = self.crop_points(image, other_matrices, mirror=True, video=video)
            other_doubts = self.doubt(other_points, other_twins)
            best = int(np.argmin(other_doubts))
            if other_doubts[best] < doubts[i] / 2:
                chosen[i] = det.others[best]
                answers[i] = crop_to_image(other_points[best], other_matrices[best])
        return chosen, answers

    def still_in_view(self, image: np.ndarray, previous: list[Face]) -> bool:
        """Whether the detector's quick look (:meth:`~kpdemo.detection.detector.FaceDetector.glance`) sees the faces a
        stream follows and no other: as many faces, each matching one followed face (:func:`same_face`).

        Why not detect in full: on a webcam stream's re-detection frames that cost ~4x a tracked frame (a first
        -generation EPYC: 61 vs 15 ms; BlazeFace on the frame, four more calls to orient each face, the first crop
        and its mirror twin), a stall every ``REDETECT_EVERY`` frames; the quick look is one BlazeFace call (~6 ms;
        two where the short-range model misses small faces on a wide frame), and the followed faces' points already
        give their roll. A new face, a lost one, or a followed face whose roll the detector contradicts (a track
        gone wrong) still leads to a full detection."""
        seen = list(self.detector.glance(image))
        if len(seen) != len(previous):
            return False
        for face in previous:
            roll = self.roll(face.points)
            box = self.landmark_box(face.points, roll)
            match = next((i for i, det in enumerate(seen) if same_face(det, box, roll)), None)
            if match is None:
                return False
            del seen[match]  # by place: detections hold arrays, which == cannot compare
        return True

    def roll(self, points: np.ndarray) -> float:
        """The eye line's angle of a face's points (degrees; 0 for a schema without eyes): the turn of a crop that
        shows it upright."""
        return upright_angle(*self.schema.eye_centres(points)) if self.schema.has_eyes else 0.0

    def _track(self, image: np.ndarray, previous: list[Face], recheck: bool) -> list[Face] | None:
        """Crop each face around its previous points, as training crops were cut (models with ``meta.refine``), and
        predict: a webcam frame then costs one network call and no detector. The crop leads a moving face
        (:data:`TRACK_LEAD`), and a face that outran it is read twice (:data:`TRACK_SETTLE`). Each crop is turned
        upright on the previous eyes, so a head that rolls (past the +-30 deg of training, even onto its side) stays
        upright in the crop. None when a face's centre has left the image, so the caller re-detects, and with
        ``recheck`` when the detector's quick look does not see the same faces (:meth:`still_in_view`): a crop always
        shows the model a face, so a face that vanished inside the image is only dropped then."""
        if not self.meta.refine or not previous or (recheck and not self.still_in_view(image, previous)):
            return None
        expected = [face.points + TRACK_LEAD * (face.motion if face.motion is not None else 0) for face in previous]
        points = self.points_in(image, [self.crop_around(e, angle=self.roll(e)) for e in expected], video=True)
        moved = [i for i, (e, pts) in enumerate(zip(expected, points, strict=True))
                 if self._moved(e, pts) > TRACK_SETTLE]
        if moved:
            again = self.points_in(image, [self.crop_around(points[i], angle=self.roll(points[i])) for i in moved],
                                   video=True)
            for i, pts in zip(moved, again, strict=True):
                points[i] = pts
        h, w = image.shape[:2]
        faces = []
        for face, pts in zip(previous, points, strict=True):
            cx, cy = pts.mean(0)
            if not (0 <= cx < w and 0 <= cy < h):
                return None
            faces.append(Face(points_box(pts), pts, face.score,
                              motion=(pts.mean(0) - face.points.mean(0)).astype(np.float32)))
        return faces

    def _reread(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Each face refined by the photo recipe from its given points (no detector: on a 1920x1080 frame the
        photo path's face search took 275 of its 480 ms here, the refine 75), its uncertainty measured as a photo's;
        a model that does not refine (``meta.refine`` unset) reads the whole image as a photo."""
        if not self.meta.refine:
            return self._predict(image, video=False)
        if not faces:
            return []
        points, spreads = self.refine(image, [face.points for face in faces], self.recipe)
        return [Face(points_box(pts), pts, face.score, spread)
                for face, pts, spread in zip(faces, points, spreads, strict=True)]

    def _moved(self, before: np.ndarray, after: np.ndarray) -> float:
        """How far apart two answers for a face lie: their centres' distance in sides of the landmark box that crops
        are cut around (:meth:`landmark_box`: for ``kaggle15``, the 68-point box, ~1.3x its own points' box)."""
        return float(np.linalg.norm(after.mean(0) - before.mean(0))) / self.landmark_box(before)[2]

    def refine(self, image: np.ndarray, points: list[np.ndarray],
               recipe: PhotoRecipe) -> tuple[list[np.ndarray], list[float | None]]:
        """Each face's points after the recipe's refine passes (one batched network call per pass), and the face's
        :attr:`~kpdemo.detection.base.Face.uncertainty`: the mean of two spreads of the last pass's answers, how far
        the views' answers (every view, and its mirror twin) lie from the points they average (:meth:`spreads`),
        and how far this network's and its live-frame companion's answers on the face's central view (scale 1, no
        turn) lie from their mean (:meth:`second_opinions`), where it has a companion (None with one answer a face).

        Why the companion: a face the model cannot see well (an object over it, blur, the dark) spreads the views'
        answers, except where it places hidden points alike in every view, as under an object; a second network,
        half as wide and trained apart, places them its own way. On the 1,247 validation faces of ``python
        bench/uncertainty.py --split val`` the ROC AUC for the answers with NME > 10% went 0.92 -> 0.97 (covered
        faces 0.60 -> 0.75), and at :data:`~kpdemo.detection.base.UNCERTAIN` 73% of those answers were flagged
        instead of 57%, and 0.45% of the good ones (NME < 5%) instead of 0.78%. It costs one crop a face on the
        companion."""
        views = recipe.views
        last_pass: tuple[list[np.ndarray], list[np.ndarray]] | None = None  # its windows and answers
        for _ in range(recipe.passes):
            windows = []
            for face in points:
                base = self.roll(face) if recipe.upright else 0.0
                windows += [self.crop_around(face, scale, base + turn) for scale, turn in views]
            answers, twins = self.crop_points(image, windows, mirror=recipe.mirror)
            found = np.stack(self.in_image(answers, twins, windows))
            points = list(found.reshape(len(points), len(views), *found.shape[1:]).mean(1))
            last_pass = windows, [answers] if twins is None else [answers, twins]
        if last_pass is None:
            return points, [None] * len(points)
        spreads = self.spreads(points, *last_pass)
        if self._second_opinion is None:
            return points, spreads
        windows, (answers, *_) = last_pass
        central = min(range(len(views)), key=lambda i: (abs(views[i][0] - 1), abs(views[i][1])))  # scale 1, no turn
        step = len(views)
        seconds = self.second_opinions(image, points, windows[central::step], answers[central::step])
        return points, [second if spread is None else (spread + second) / 2
                        for spread, second in zip(spreads, seconds, strict=True)]

    def spreads(self, points: list[np.ndarray], windows: list[np.ndarray],
                answers: list[np.ndarray]) -> list[float | None]:
        """Per face, the mean distance of its crops' answers (``answers``: per kind, one (K, 2) crop answer per
        window, the faces' windows in turn) from its ``points``, over the longer side of its points' box."""
        estimates = np.stack([[crop_to_image(p, m) for p, m in zip(kind, windows, strict=True)] for kind in answers], 1)
        per_face = estimates.reshape(len(points), -1, *estimates.shape[2:])
        if per_face.shape[1] < 2:
            return [None] * len(points)
        return [float(np.linalg.norm(face - mean, axis=-1).mean()) / face_size(mean)
                for face, mean in zip(per_face, points, strict=True)]

    def second_opinions(self, image: np.ndarray, points: list[np.ndarray], windows: list[np.ndarray],
                        answers: np.ndarray) -> list[float]:
        """Per face, how far this network's answer on its window (``answers``: (N, K, 2) crop pixels, a window a
        face) and the live-frame companion's on the same window lie from their mean, i.e. half the mean distance
        between the two, over the longer side of the face's ``points``' box (the scale of :meth:`spreads`)."""
        crops = np.stack([cut_crop(image, m, self.input_hw, self.meta.in_channels) for m in windows])
        theirs = self._read_crops(crops, self._second_opinion)
        return [float(np.linalg.norm(crop_to_image(a, m) - crop_to_image(b, m), axis=-1).mean()) / 2 / face_size(face)
                for a, b, m, face in zip(answers, theirs, windows, points, strict=True)]

    def _predict(self, image: np.ndarray, video: bool) -> list[Face]:
        """Detect, crop by the detector's calibrated box, predict; for photos, refine (``meta.refine``) by
        ``self.recipe`` (:data:`PHOTO_RECIPE`): crops cut around the previous answer as training crops were. A
        detector box only estimates where the landmark box is (worse on turned faces). Live frames (``video``) take
        one pass."""
        detections = list(self.detector.detect(image, video=video))
        if not all(isinstance(d, Detection) for d in detections):
            raise TypeError(f"the face detector {getattr(self.detector, 'name', self.detector)!r} must return "
                            "Detection(box, score, name, calibration) objects (kpdemo.detection.Detection; "
                            "calibration GIVEN_BOX takes the box as the face's landmark box)")
        return self._faces(image, detections, video)

    def _predict_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Face | None]:
        """Each box taken as its face's landmark box (:data:`GIVEN_BOX`) of an upright face, then the photo path as
        after a detector. A box says nothing of the face's roll, so the other quarter turns are the face's other
        rolls: a face on its side, which the model cannot read upright, is read at the turn it can
        (:meth:`first_answers`)."""
        detections = [Detection(box, 1.0, "given box", GIVEN_BOX, 0.0,
                                tuple(Detection(box, 1.0, "given box", GIVEN_BOX, turn) for turn in QUARTER_TURNS[1:]))
                      for box in boxes]
        return self._faces(image, detections, video=False)

    def _faces(self, image: np.ndarray, detections: list[Detection], video: bool) -> list[Face]:
        if not detections:
            return []
        detections, points = self.first_answers(image, detections, video)
        spreads: list[float | None] = [None] * len(points)
        if self.meta.refine and not video:
            points, spreads = self.refine(image, points, self.recipe)
        return [Face(d.box, p, d.score, u) for d, p, u in zip(detections, points, spreads, strict=True)]
