"""Following faces through a stream of frames, a webcam's or a video file's: the one policy both use.

Why one place: the Webcam tab, the Video tab and ``bench/tracking.py`` (which measures this policy against a full
detection on every frame) must follow faces the same way, or the bench measures something the app does not do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from kpdemo.detection import Face, LandmarkPredictor
from kpdemo.smoothing import LandmarkSmoother, centre_and_size, match_faces

#: A tracking predictor (:meth:`~kpdemo.detection.base.LandmarkPredictor.track`) rechecks every this-many-th frame
#: with a quick look of its face detector, to pick up faces that entered and drop ones that left.
REDETECT_EVERY = 10


def follow(predictor: LandmarkPredictor, image: np.ndarray, previous: list[Face], frame: int) -> list[Face]:
    """The faces of a stream's frame number ``frame`` (from 0), given the last frame's (``previous``, unsmoothed):
    tracked from them where the predictor can, with the detector's quick look every ``REDETECT_EVERY`` frames; a
    full detection on the first frame, when the predictor cannot track, or when the quick look sees other faces."""
    faces = predictor.track(image, previous, frame % REDETECT_EVERY == 0) if previous else None
    return predictor.predict(image, video=True) if faces is None else faces


@dataclass
class FaceFollower:
    """One stream's faces from frame to frame: what was found last (unsmoothed, for tracking), who each face is, and
    the smoother.

    One per stream and predictor: a webcam session makes a new one when its visitor picks another model, so no
    state crosses from one model's points to another's. ``ids`` names the last frame's faces: a face keeps its id
    while it is followed, across full detections too (matched by place, as the smoother matches them), and a face
    that comes into view gets the next unused one, so a clip's table can tell two people apart.

    ``as_photos`` then reads each followed face again as the Detect tab reads a photo
    (:meth:`~kpdemo.detection.base.LandmarkPredictor.reread`: refined, averaged views, an uncertainty per face), and
    the next frame follows it from there: several times the work of following (``bench/video.py``), for a recorded
    clip whose points matter more than the time they take.
    """

    predictor: LandmarkPredictor
    as_photos: bool = False
    frames: int = 0  # frames followed so far
    tracked: list[Face] = field(default_factory=list)  # the last frame's faces, unsmoothed
    ids: list[int] = field(default_factory=list)  # the last frame's faces' ids, in the order of ``tracked``
    smoother: LandmarkSmoother = field(default_factory=LandmarkSmoother)
    _next_id: int = 0

    def __call__(self, image: np.ndarray, seconds: float, smooth: bool = True) -> list[Face]:
        """The faces of the next frame, taken at ``seconds`` (any clock, increasing), smoothed when asked.

        A failure (a bad frame) raises before any state changes, so the stream goes on from the last good frame.
        """
        faces = follow(self.predictor, image, self.tracked, self.frames)
        if self.as_photos:
            faces = self.predictor.reread(image, faces)
        self.ids = self._identify(faces)
        self.tracked = [replace(f, box=f.box.copy(), points=f.points.copy()) for f in faces]
        if smooth and faces:
            for face, points in zip(faces, self.smoother([f.points for f in faces], seconds), strict=True):
                face.points = points
        self.frames += 1
        return faces

    def _identify(self, faces: list[Face]) -> list[int]:
        """The ids of this frame's faces: the id of the last frame's face each continues, else a new one."""
        matches = match_faces([centre_and_size(face.points) for face in self.tracked], [f.points for f in faces])
        ids = []
        for match in matches:
            if match is None:
                ids.append(self._next_id)
                self._next_id += 1
            else:
                ids.append(self.ids[match])
        return ids
