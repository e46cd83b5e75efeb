"""Write the README's results section from ``bench/results/``, so every number there comes from a measured file.

Each table names the command that produced its file; a missing file becomes a line saying which command to run,
never a number. ``--check`` exits non-zero when the README differs from what the files say (the test suite runs
it), so a rerun benchmark cannot silently leave stale numbers in the README.

    python bench/report.py          # rewrite README.md between <!-- results:start --> and <!-- results:end -->
    python bench/report.py --check  # is the README current?
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere
from kpdemo.markdown import markdown_table, replace_between, step_text  # noqa: E402

RESULTS = REPO / "bench" / "results"
#: The peer trained on none of the test sets' images: the yardstick of how their splits differ in difficulty.
CONTROL = "MediaPipe face mesh"
README = REPO / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.2f}%"


def shipped_models(results: Path) -> str:
    frame = pd.read_csv(results / "checkpoint_eval.csv")
    rows = [[f"`{r.checkpoint}`", r.model, f"{r.dataset} {r.split} ({r.images} faces, {r.input_size} crops)",
             f"{r.rmse_px:.2f}", pct(r.nme), f"{r.file_mib:.1f}"] for r in frame.itertuples()]
    return ("Held-out error of each shipped checkpoint on its dataset's test split, from ground-truth crops "
            "(`python bench/checkpoint_eval.py` -> `bench/results/checkpoint_eval.csv`; per-region NME there too). "
            "NME is normalised by the outer-eye-corner distance; RMSE is in crop pixels.\n\n"
            + markdown_table(["checkpoint", "model", "held-out data", "RMSE (px)", "NME", "MiB"], rows))


def peers(results: Path) -> str:
    frame = pd.read_csv(results / "accuracy.csv")
    rows = [[r.dataset, r.model, r.images, pct(r.found_rate), f"{pct(r.nme_found_mean)} ({r.points_compared})",
             pct(r.nme_found_median), pct(r.failure_rate_10pct), pct(r.nme_common_mean),
             pct(r.failure_rate_common_10pct)] for r in frame.itertuples()]
    anchors = ", ".join(f"{d}: {n}" for d, n in frame.groupby("dataset", sort=False)["anchors_common"].first().items())
    return ("Full path (each model's own face detector, then landmarks) on the raw test images, against MediaPipe "
            "face mesh and dlib's 68-point predictor (`pip install -r requirements-bench.txt && python "
            "bench/accuracy.py` -> `bench/results/accuracy.csv`, `accuracy.png`). \"Own points\" scores each model "
            "on every point it shares with the annotation (a model of another schema on the named anchors both "
            "have); \"common anchors\" scores every model on the same anchor set, the one MediaPipe's index map "
            f"covers ({anchors} anchors: eye corners and centres, brow ends, nose tip, mouth corners, lip "
            "centres, chin), so those two columns compare like with like. A face not found counts as a failure "
            "(failure = NME > 10%).\n\n"
            + markdown_table(["test set", "model", "images", "face found", "NME, own points (n)", "median",
                           "failures", "NME, common anchors", "failures"], rows)
            + "\n\n![accuracy](bench/results/accuracy.png)")


def given_boxes(results: Path) -> str:
    frame = pd.read_csv(results / "given_boxes.csv")
    models = list(dict.fromkeys(frame["model"]))
    rows = []
    for (dataset, boxes), part in frame.groupby(["dataset", "boxes"], sort=False):
        by_model = part.set_index("model")
        rows.append([dataset, boxes, int(part["images"].iloc[0])]
                    + [f"{pct(by_model.loc[m].nme_common_mean)} ({pct(by_model.loc[m].failure_rate_common_10pct)})"
                       if m in by_model.index else "n/a" for m in models])
    return ("Landmarks alone: every model handed the same box per test face, so no face detector takes part, as "
            "landmark benchmarks compare models and as a user with their own face detector calls them "
            "(`predict_in_boxes`; `python bench/given_boxes.py` -> `bench/results/given_boxes.csv`, "
            "`given_boxes.png`). Boxes: the true points' box; BlazeFace's raw box; dlib's HOG box, the box dlib's "
            "predictor was trained on; and the true points' box of the faces turned by 90 deg (half one way, half "
            "the other), as a detector that finds faces on their side hands them in (a box does not say which way "
            "up its face is). Ours takes a box as the face's landmark box and refines around its first "
            "answer; MediaPipe's mesh runs on a crop twice the box; dlib's predictor runs on the box. An image with "
            "no box from that detector is a failure for every model. NME on the common anchors over the faces "
            "answered, and in brackets the failures (NME > 10% or no box).\n\n"
            + markdown_table(["test set", "boxes", "images", *models], rows)
            + "\n\n![landmarks alone](bench/results/given_boxes.png)")


def seen_in_training(results: Path) -> str:
    train = pd.read_csv(results / "accuracy_train.csv")
    test = pd.read_csv(results / "accuracy.csv").set_index(["dataset", "model"])
    ratios = {}
    for r in train.itertuples():
        if (r.dataset, r.model) in test.index:  # else the test table was measured without this model
            ratios[r.dataset, r.model] = test.loc[(r.dataset, r.model)].nme_common_mean / r.nme_common_mean
    rows = []
    for r in train.itertuples():
        ratio, control = ratios.get((r.dataset, r.model)), ratios.get((r.dataset, CONTROL))
        held_out = test.loc[(r.dataset, r.model)] if ratio is not None else None
        rows.append([r.dataset, r.model, f"{pct(r.nme_common_mean)} ({r.images})",
                     "n/a" if held_out is None else f"{pct(held_out.nme_common_mean)} ({held_out.images})",
                     "n/a" if ratio is None else f"{ratio:.2f}",
                     "n/a" if ratio is None or control is None else f"{ratio / control:.2f}"])
    return ("Each model scored the same way on the training images of a test set above (`python bench/accuracy.py "
            "--split train --datasets ibug300w --models checkpoint:ibug68_pip mediapipe468 dlib` -> "
            "`bench/results/accuracy_train.csv`), on the anchors all three name. MediaPipe was trained on neither "
            "split, so its test/train ratio says how much easier or harder the test images are. A model trained "
            "on the training images only does relatively worse on the test images (a ratio above MediaPipe's); "
            "one whose ratio matches MediaPipe's treats the test images like the training ones: it has seen "
            "both splits or neither. dlib's 68-point predictor was \"trained on the ibug 300-W dataset\" "
            "(dlib-models' README), a release that holds the training images and the common and challenging test "
            "images alike. The `ytf68` test people are unseen by dlib and by ours (ours learnt that set's "
            "annotation style from other people in its train split, so dlib's error there also holds any gap "
            "between that style and 300-W's).\n\n"
            + markdown_table(["dataset", "model", "NME, train split (images)", "NME, test split (images)",
                              "test / train", "relative to MediaPipe's"], rows))


def sweep_rows(frame: pd.DataFrame, key: str) -> tuple[list, list[list[str]]]:
    """A sweep's steps, and per model its NME on the common anchors (failures) at each step."""
    steps = list(dict.fromkeys(frame[key]))
    rows = []
    for model, part in frame.groupby("model", sort=False):
        by_step = part.set_index(key)
        rows.append([model] + [f"{pct(r.nme_common_mean)} ({pct(r.failure_rate_common_10pct)})"
                               for r in (by_step.loc[step] for step in steps)])
    return steps, rows


@dataclass(frozen=True)
class SweepSection:
    """A sweep bench's section: ``prose`` (its first words say what was done to the faces), then per model its NME
    on the common anchors (failures) at each step (``key`` in ``<name>.csv``, written by ``step_format`` into
    ``step_label``), then the plot (``<name>.png``, described by ``alt``)."""

    name: str
    key: str
    step_label: str
    alt: str
    prose: str
    step_format: Callable[[float], str] = step_text

    def __call__(self, results: Path) -> str:
        frame = pd.read_csv(results / f"{self.name}.csv")
        steps, rows = sweep_rows(frame, self.key)
        return (f"The full path of each model on the 300-W common test faces ({frame['images'].iloc[0]}) "
                f"{self.prose}\n\n"
                + markdown_table(["model", *[self.step_label.format(self.step_format(step)) for step in steps]], rows)
                + f"\n\n![{self.alt}](bench/results/{self.name}.png)")


TURNED_FACES = SweepSection(
    "rotation", "angle", "{} deg", "turned faces",
    "turned about the image centre by each angle (half one way, half the other; canvas widened to the diagonal, "
    "borders replicated): a person lying down, a photo turned sideways without EXIF (`python "
    "bench/rotation.py` -> `bench/results/rotation.csv`, `rotation.png`). NME on the common anchors over the "
    "faces found, and in brackets the failures (NME > 10% or no face found). Ours finds each face's roll "
    "with BlazeFace looking through quarter turns and cuts its crops upright "
    "(`OrientedDetector` in `kpdemo/detection/wrappers.py`); when its model cannot read the first crop (its answer "
    "and its answer on the mirrored crop disagree), it reads the face at the other turns BlazeFace saw it at "
    "(`CheckpointPredictor.first_answers`).")


def turned_away(results: Path) -> str:
    """The test faces sorted by yaw (``bench/yaw.py``): per model its NME (failures) in each bin, and a first row
    counting each bin's test faces and the faces our 68-point model trained on."""
    frame = pd.read_csv(results / "yaw.csv")
    bins = frame.drop_duplicates("yaw_from")
    headers = [f"{lo:g}-{hi:g} deg" if math.isfinite(hi) else f"{lo:g} deg and more"
               for lo, hi in zip(bins["yaw_from"], bins["yaw_to"], strict=True)]
    counts = ["faces: test (trained on)", *(f"{n} ({t:,})" for n, t in zip(bins["images"], bins["training_faces"],
                                                                          strict=True))]
    _, rows = sweep_rows(frame, "yaw_from")
    return (f"The full path of each model on the 300-W full test set ({bins['images'].sum()} faces: the common set "
            "and the challenging subset), sorted by how far each face is turned from the camera: a face looking "
            "past the lens, at a neighbour, a three-quarter portrait, a profile. A picture cannot be turned to make "
            "these, so the bench sorts the faces the test sets hold, by a yaw estimated from their true points "
            "(where the nose tip lies between the jaw outline's two ends along the eye line; the arcsine of that "
            "share, as for a head taken as a cylinder) (`python bench/yaw.py` -> `bench/results/yaw.csv`, "
            "`yaw.png`). NME on the common anchors over the faces found, and in brackets the failures (NME > 10% "
            "or no face found); the first row counts each bin's test faces and, in brackets, the faces our "
            "68-point model trained on (300-W's train split, YouTube-Faces' train and val people). dlib's "
            "predictor was trained on these test images ([Seen in training?](#seen-in-training)); none of ours "
            "was.\n\n"
            + markdown_table(["model", *headers], [counts, *rows])
            + "\n\n![faces turned away](bench/results/yaw.png)")


CLOSEUPS = SweepSection(
    "closeup", "window", "window {}", "faces cut by the frame",
    "re-framed as 480 px pictures of a window ever tighter around the face: its side a multiple of the face's "
    "68-point box (1.4: the whole face with a margin, as in the test set; 1.0: the points just fit; below: jaw, "
    "chin and brows cut by the frame, like a webcam user close to the camera or a selfie) (`python "
    "bench/closeup.py` -> `bench/results/closeup.csv`, `closeup.png`). NME on the common anchors over the "
    "faces found, points outside the picture included, and in brackets the failures. When nothing else "
    "finds a face, ours looks again with the picture in a black border (`PaddedDetector` in "
    "`kpdemo/detection/wrappers.py`), and its 68-point model has learnt to place the points the frame cuts "
    "off (its last four fine-tunes, each averaged with its start, saw crops cut by a picture edge: `wild_cut` in "
    "`trainers/README.md`).")

SMALL_FACES = SweepSection(
    "small_faces", "size", "{} px", "small faces",
    "shrunk (area resampling: the detail is lost, as from farther away) until the face's 68-point box is the "
    "named size on its longer side (the test crops' own faces are about 183 px), each pasted in the middle of "
    "a grey 640x480 picture: a face across the room from a webcam, in a group photo or a street scene (`python "
    "bench/small_faces.py` -> `bench/results/small_faces.csv`, `small_faces.png`). NME on the common anchors "
    "over the faces found, each normalised by its own eye-corner distance, and in brackets the failures (NME "
    "> 10% or no face found). MediaPipe's mesh meshes the faces its own detector misses, and those it meshed "
    "under 144 px, on crops cut around them (our detector's boxes: tiled BlazeFace), so the two find the same "
    "faces; dlib finds faces with its HOG detector.")


LOW_LIGHT = SweepSection(
    "low_light", "light", "light {}", "faces in dim light",
    "photographed with ever less light, the camera's gain making up the brightness (each image taken as the "
    "scene in linear light; photon counts drawn around the light's share of a 1,000-electron full well, read "
    "noise 3 electrons, amplified back, 8-bit sRGB; the same noise for every model): a room lit by a screen, an "
    "evening street (`python bench/low_light.py` -> `bench/results/low_light.csv`, `low_light.png`). NME on "
    "the common anchors over the faces found, and in brackets the failures (NME > 10% or no face found). When "
    "nothing else finds a face in a noisy picture, ours looks again on a smoothed copy (`DenoisedDetector` in "
    "`kpdemo/detection/wrappers.py`), and its 68-point model's last two fine-tunes saw noisy and blurred faces "
    "(`wild_cut_blur_noise`, then `wild_cover`, in `trainers/README.md`).")

BLURRED = SweepSection(
    "blur", "sigma", "sigma {} px", "blurred faces",
    "blurred by a Gaussian of the named sigma (the faces' 68-point boxes are about 183 px): a webcam that has "
    "not found focus, a face moving in a long exposure, a thumbnail blown up (`python bench/blur.py` -> "
    "`bench/results/blur.csv`, `blur.png`). NME on the common anchors over the faces found, and in brackets "
    "the failures (NME > 10% or no face found). Our 68-point model's last two fine-tunes saw strongly "
    "blurred faces (`wild_cut_blur_noise`, then `wild_cover`, in `trainers/README.md`).")


MOVING = SweepSection(
    "motion_blur", "length", "smear {} px", "moving faces",
    "smeared along a line of the named length at an angle drawn per picture (the faces' 68-point boxes are "
    "about 183 px; the same angles for every model and length): a head turning in front of a webcam whose "
    "exposure is long in a dim room, a hand-held phone, sharp across the motion and smeared along it, unlike a "
    "lens out of focus (`python bench/motion_blur.py` -> `bench/results/motion_blur.csv`, `motion_blur.png`). "
    "NME on the common anchors over the faces found, and in brackets the failures (NME > 10% or no face "
    "found). No shipped model of ours was trained on motion blur; its even blur (`wild_cut_blur_noise`) is the "
    "nearest (a fine-tune with smeared faces gained nothing clear on the validation faces: `wild_motion` in "
    "`trainers/README.md`).")

SIDE_LIGHT = SweepSection(
    "side_light", "contrast", "{}", "faces in side light",
    "with one side of the face in shadow: each image taken as the scene in linear light, the light on it falling "
    "by the named share across a soft edge through the middle of the face (turned up to 30 deg from the "
    "vertical, either side, the same for every model), back to 8-bit sRGB, no gain to lift the shadow: a window "
    "beside the desk, a lamp to one side, a low sun (`python bench/side_light.py` -> "
    "`bench/results/side_light.csv`, `side_light.png`). NME on the common anchors over the faces found, and in "
    "brackets the failures (NME > 10% or no face found). No model of ours was trained on shadows beyond its "
    "training photos' own and the recipe's brightness and contrast changes.",
    step_format=lambda contrast: "no shadow" if contrast == 1 else f"shadow {step_text(contrast)}")

OCCLUDED = SweepSection(
    "occlusion", "cover", "{} hidden", "covered faces",
    "each with one object in front of it: an ellipse (random aspect and tilt, centred in the middle of the face) "
    "hiding the named share of the face's 68-point box, filled with the pixels of another test picture (skin, "
    "hair, clothes, background; edge feathered), the same for every model: a hand on the chin, a phone, hair "
    "over an eye, another person (`python bench/occlusion.py` -> `bench/results/occlusion.csv`, "
    "`occlusion.png`). NME on the common anchors over the faces found, hidden points included, and in "
    "brackets the failures (NME > 10% or no face found). Our 68-point model's last fine-tune saw such objects "
    "(`wild_cover` in `trainers/README.md`).", step_format="{:.0%}".format)

COMPRESSED = SweepSection(
    "jpeg", "quality", "quality {}", "compressed faces",
    "saved again as JPEGs of the named quality (OpenCV's libjpeg; the test images are stored at 90): a photo "
    "off a messaging app or a web page, a video call on a weak line, whose 8 px blocks and ringing may pass "
    "for the edges the points sit on (`python bench/jpeg.py` -> `bench/results/jpeg.csv`, `jpeg.png`). NME on "
    "the common anchors over the faces found, and in brackets the failures (NME > 10% or no face found). No "
    "model of ours was trained on JPEG artefacts beyond those of its training images.")


def webcam(results: Path) -> str:
    frame = pd.read_csv(results / "webcam_latency.csv")
    first = frame.iloc[0]
    rows = [[r.predictor, r.backend, f"{r.median_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.ratio_vs_mediapipe468:.2f}",
             f"{r.fps_per_user_concurrent:.1f}", f"{r.fps_total_concurrent:.1f}"] for r in frame.itertuples()]
    users = int(first["users"])
    return (f"Per-frame latency of the whole webcam path at 640x480 (JPEG decode, face detection, landmarks, "
            f"smoothing, drawing) on {first['cpu']} ({first['cpu_threads']} threads, 1-min load "
            f"{first['load_avg_1min']} at the end; "
            + ("with int8 dot products, so our models run their int8 exports" if first["int8_dot_product"] else
               "without int8 dot products, so our models run their float exports, and a model's frames go to its "
               "half-width live-frame companion where it has one (see [int8 exports](#int8-exports))")
            + f"), and frames per second with {users} concurrent users "
            "(`python bench/webcam_latency.py` -> `bench/results/webcam_latency.csv`, `webcam_latency.png`).\n\n"
            + markdown_table(["predictor", "runs on", "median ms", "p95 ms", "x MediaPipe",
                              f"fps per user ({users} users)", "fps served"], rows)
            + "\n\n![webcam latency](bench/results/webcam_latency.png)")


def tracking(results: Path) -> str:
    frame = pd.read_csv(results / "tracking.csv")
    first = frame.iloc[0]
    if "network" not in frame:  # written before live-frame companions
        frame["network"] = frame["model"]
    rows = [[f"{r.peak_px_per_frame:g}", r.model, r.policy, r.network, pct(r.nme_mean), pct(r.nme_common_mean),
             pct(r.failure_rate_common_10pct),
             "own" if pd.isna(r.full_detections_per_100_frames) else f"{r.full_detections_per_100_frames:.1f}",
             f"{r.median_ms:.1f}",
             f"{r.p95_ms:.1f}"] for r in frame.itertuples()]
    return ("The webcam path on clips of moving faces, scored against the truth in every frame: each 300-W common "
            f"test face ({first['clips']}) turned and scaled onto a grey 640x480 canvas, its 68-point box ~160 px (a "
            f"person at arm's length), then swung sideways and up and down, zoomed 0.85-1.15x and rolled up to "
            f"+-15 deg over {first['frames'] // first['clips']} frames, a fresh stream per clip, at two speeds (up "
            "to 16 px a frame: a brisk turn of the head at 30 fps; 32 px: a fast one, or a brisk one on a stream "
            "the server answers at 15 fps) (`python bench/tracking.py` -> `bench/results/tracking.csv`, "
            "`tracking.png`). The 68-point model under three policies: `recheck` (the app): follow each face "
            "from the last frame's points, the crop leading the face by half its last move, reading it again from "
            "a re-centred crop when it outran that by a tenth of its size, and every tenth frame let the face "
            "detector take one quick look, with a full detection only when faces came or went; `redetect`: a full "
            "detection every tenth frame instead; `detect`: a full detection every frame (both follow the face the "
            "same way between). Frames are read by the network the app runs on them: a checkpoint's live-frame "
            "companion where it has one (`<stem>_live.pt`), and the app's policy once more on the checkpoint's own "
            "network, so the cost and the saving show. The IMM and Kaggle models run the app's policy alone, "
            "scored on the anchors they share with 300-W's points (the Kaggle model's 15: it has no chin; the IMM "
            "model learnt IMM's annotation, whose points sit a little apart from 300-W's, so part of its error is "
            "that difference). MediaPipe's mesh runs its own video mode. NME over the frames with the face found "
            "(68 points; common anchors), failures (NME > 10% or no face), full detections per 100 frames, "
            f"and ms a frame after a clip's first on {first['cpu']}. The policy and the re-read's threshold were "
            "chosen on the validation faces (`--split val`).\n\n"
            + markdown_table(["head speed, px a frame", "model", "policy", "frames read by", "NME",
                              "NME, common anchors", "failures", "full detections / 100 frames", "median ms",
                              "p95 ms"], rows)
            + "\n\n![faces followed on a stream](bench/results/tracking.png)")


def video(results: Path) -> str:
    frame = pd.read_csv(results / "video.csv")
    encoders = pd.read_csv(results / "video_encoders.csv")
    first = frame.iloc[0]
    rows = [[r.size, r.model, r.reading, r.runs_on, f"{r.fps:.1f}", f"{r.x_real_time:.2f}", f"{r.decode_ms:.1f}",
             r.annotated_size] for r in frame.itertuples()]
    encoder_rows = [[r.size, r.encoder, f"{r.ms_per_frame:.1f}", f"{r.kib:,}"] for r in encoders.itertuples()]
    return ("The Video tab's whole path on a clip of the astronaut moving in the frame, "
            f"{first['clip_s']:g} s at 30 fps, at three sizes: decode, follow the faces as the Webcam tab does "
            "(checkpoints on the exports a deployment serves), smoothing, drawing, the annotated H.264 copy and "
            f"the CSV, after the model has loaded, on {first['cpu']} ({first['cpu_threads']} threads) (`python "
            "bench/video.py` -> `bench/results/video.csv`, `video_encoders.csv`, `video.png`). Frames followed as "
            "the Webcam tab follows them, or each followed face then read again as a photo is (the tab's checkbox: "
            "refined and averaged views, on the float network). x real time: the clip's length over the time taken "
            "(above 1: faster than the clip plays).\n\n"
            + markdown_table(["clip", "model", "frames", "read by", "frames a second", "x real time",
                              "decoding, ms a frame", "annotated copy"], rows)
            + "\n\nWhat the copy could be written with, ms a frame and the file's KiB, on the same frames: OpenCV's "
            "wheels write VP8, which browsers play, and MPEG-4 Part 2, which they do not; PyAV's bundle libx264.\n\n"
            + markdown_table(["clip", "encoder", "ms a frame", "KiB"], encoder_rows)
            + "\n\n![video files](bench/results/video.png)")


def photo_path(results: Path) -> str:
    frame = pd.read_csv(results / "photo_path_val.csv")
    model = frame["model"].iloc[0]
    part = frame[frame["model"] == model]
    sets = list(dict.fromkeys(part["set"]))
    rows = []
    for recipe, group in part.groupby("recipe", sort=False):
        by_set = group.set_index("set")
        name = f"**{recipe}** (shipped)" if group["shipped"].any() else recipe
        rows.append([name, int(group["crops_per_face"].iloc[0])]
                    + [pct(by_set.loc[s, "nme_mean"]) for s in sets]
                    + [f"{group['ms_per_image'].mean():.0f}"])
    return (f"How `{model}` treats a photo (the webcam tracks with one crop a frame instead, two when a head "
            "outruns it): refine passes on a crop "
            "cut around the previous answer, turned upright on its eye line or not, averaged over small turns, "
            "scales and the mirror image. Chosen on the 300-W validation faces and on copies of them tilted by up "
            "to the named angle, never on a test set (`python bench/photo_path.py` -> "
            "`bench/results/photo_path_val.csv`, which also holds `imm73_pip`, paired bootstrap intervals and "
            f"failure rates). NME over 68 points, full path; ms on {part['cpu'].iloc[0]}.\n\n"
            + markdown_table(["recipe", "crops a face", *[f"NME {s}" for s in sets], "ms an image"], rows))


def int8_exports(results: Path) -> str:
    frame = pd.read_csv(results / "onnx_int8.csv")
    rows = [[f"`{r.checkpoint}`", f"`{r.export}`", r.val_faces, f"{r.rmse_px:.3f}", f"{r.nme_pct:.3f}%",
             f"{r.run_median_ms:.2f}", f"{r.MiB:.1f}"] for r in frame.itertuples()]
    first = frame.iloc[0]
    cpu = (f"{first['cpu']} ({first['cpu_threads']} threads, 1-min load {first['load_avg_1min']}; "
           + ("with" if first["int8_dot_product"] else "without") + " int8 dot-product instructions)")
    return ("Webcam frames run each checkpoint's int8 export (its convolutions quantized by ONNX Runtime, calibrated "
            "on 300 training crops, weights in 7 bits so that x86 CPUs without VNNI do not overflow their 16-bit "
            "sums) where the CPU has int8 dot-product instructions (x86 VNNI: Intel since Cascade Lake, AMD since "
            "Zen 4; ARM's dot product), the float one elsewhere, where int8 convolutions run no faster, and there "
            "a model's frames go to its half-width live-frame companion where it has one, `<stem>_live.pt` "
            "(`kpdemo.detection.cpu`; `KPDEMO_LIVE_INT8=1` or `0` and `KPDEMO_LIVE_COMPANION=1` or `0` override); "
            "photos keep the full model's float export. What that "
            "costs and buys, on the checkpoint's validation split (never test) from ground-truth crops, and ONNX "
            f"Runtime's time for one face on {cpu} "
            "(`python bench/onnx_int8.py checkpoints/*_pip.pt checkpoints/*_live.pt` -> "
            "`bench/results/onnx_int8.csv`).\n\n"
            + markdown_table(["checkpoint", "export", "val faces", "RMSE px", "NME", "ms per face", "MiB"], rows))


def device_labels(frame: pd.DataFrame) -> pd.Series:
    """The device each row of a training bench was timed on: the GPU's name, or the CPU's model where the row records
    it (``cpu``, written since 2026-12-02; rows from before name the device ``cpu`` only)."""
    cpu = frame.get("cpu", pd.Series(math.nan, index=frame.index))
    on_cpu = frame.get("device", frame["device_name"]) == "cpu"
    return frame["device_name"].where(~on_cpu | cpu.isna(), cpu)


def training(results: Path) -> str:
    frame = pd.read_csv(results / "train_speed.csv")
    first = frame.iloc[0]
    rows = [[r.pipeline, r.part.replace("_", " "), f"{r.images_per_s:.0f}", f"{1 / r.epochs_per_s:.1f}",
             f"{r.speedup_vs_naive:.2f}x"] for r in frame.itertuples()]
    return (f"ConvNet training throughput on {device_labels(frame).iloc[0]} ({first['threads']} threads), "
            f"kpdemo's on-device tensor pipeline vs a per-sample DataLoader + albumentations pipeline, same model "
            "and augmentation (`python bench/train_speed.py` -> `bench/results/train_speed.csv`; seconds per epoch "
            "are for the 4,673 kaggle15 training images).\n\n"
            + markdown_table(["pipeline", "timed", "images/s", "s/epoch", "vs naive"], rows))


def grid_speed(results: Path) -> str:
    """Grid-at-once vs one-by-one, one block per device measured (CPU here; a GPU from the campaign)."""
    frames = [pd.read_csv(p) for p in sorted(results.glob("grid_speed*.csv"))]
    if not frames:
        raise FileNotFoundError(2, "no grid speed results", str(results / "grid_speed.csv"))
    frame = pd.concat(frames, ignore_index=True)
    for column in ("steady_images_per_s_summed", "steady_speedup"):  # measured since 2026-12-01
        frame[column] = frame.get(column, pd.Series(math.nan, index=frame.index))
    frame["device_label"] = device_labels(frame)
    rows = [[r.device_label, r.grid, r.runs, r.groups, r.mode.replace("_", " "), f"{r.images_per_s_summed:.0f}",
             f"{r.seconds:.1f}", f"{r.speedup:.2f}x",
             "" if pd.isna(r.steady_images_per_s_summed) else f"{r.steady_images_per_s_summed:.0f}",
             "" if pd.isna(r.steady_speedup) else f"{r.steady_speedup:.2f}x", f"{r.load_avg_1min:.1f}"]
            for r in frame.itertuples()]
    return ("Training a whole grid as one batched model (`--grid-at-once`, `trainers/engine/grid.py`) against its "
            "runs one after another: images per second summed over the grid's runs (`python bench/train_speed.py "
            "--grid optimizers` -> `bench/results/grid_speed.csv`; on a GPU the campaign writes "
            "`grid_speed_gpu.csv`). Grid-at-once is for a GPU, where one small model at a time leaves the device "
            "idle between kernel launches; on a CPU, the stack runs each convolution as one grouped convolution, "
            "which the CPU kernels run slower than the runs' convolutions one after another, so there train one "
            "by one. \"After epoch 1\" leaves out what a run pays once, start-up and the final test, and counts "
            "what its later epochs repeat (`after_first_epoch` in `bench/train_speed.py`; blank where measured "
            "before it existed).\n\n"
            + markdown_table(["device", "grid", "runs", "groups", "mode", "images/s summed", "seconds", "speedup",
                              "after epoch 1: images/s", "after epoch 1: speedup", "1-min load"], rows))


def gpu_campaign(results: Path) -> str:
    """What each GPU call did: the campaign's own reports (``campaign*.json``, copied here by the sessions; a call
    that ran some phases only, ``--phases``, lists those)."""
    paths = sorted(results.glob("campaign*.json"))
    if not paths:
        raise FileNotFoundError(2, "no campaign report", str(results / "campaign.json"))
    return "\n\n".join(one_campaign(json.loads(path.read_text()), path.name) for path in paths)


def called_with(command: list[str], option: str) -> list[str]:
    """The values ``option`` was given on a recorded command line (its ``sys.argv``), none if it was not."""
    if option not in command:
        return []
    values = command[command.index(option) + 1:]
    return values[:next((i for i, word in enumerate(values) if word.startswith("--")), len(values))]


def one_campaign(report: dict, name: str) -> str:
    every_phase = ["smoke", "seed001", "landmarks", "throughput"]
    phases = report.get("phases", every_phase)
    rows = []
    if "smoke" in phases:
        rows.append(["smoke", report["smoke"]["status"], f"{report['smoke']['seconds']:.0f}",
                     f"a training step runs: {report['smoke'].get('ok')}"])

    def reached(runs: list[dict]) -> str:
        low, high = min(r["epochs"] for r in runs), max(r["epochs"] for r in runs)
        return f"{low}" if low == high else f"{low}-{high}"

    if "seed001" in phases:
        seed = report.get("seed001", {})
        grids = [g for g in seed if isinstance(seed[g], list)]
        epochs = "; ".join(f"{g}: {len(seed[g])} runs, {reached(seed[g])} of {seed['epochs']} epochs"
                           + "".join(f" ({r['status']})" for r in seed[g] if r["status"].startswith("failed"))
                           for g in grids)
        rows.append(["seed001", seed.get("status", "not run"), f"{seed.get('seconds', 0):.0f}",
                     seed.get("error") or f"{seed.get('groups')} groups in {seed.get('workers')} processes, "
                     f"{seed.get('images_per_s_summed')} training images/s summed; {epochs}"])
    if "landmarks" in phases:
        marks = report.get("landmarks", {})
        fits = "; ".join(f"{tag}: {run['epochs']} epochs ({run['status']}), val NME {pct(run['best']['val_nme'])}"
                         for tag, run in marks.items() if isinstance(run, dict))
        rows.append(["landmarks", marks.get("status", "not run"), f"{marks.get('seconds', 0):.0f}",
                     marks.get("error") or fits])
    if "throughput" in phases:
        speed = report.get("throughput", {})
        rows.append(["throughput", speed.get("status", "not run"), f"{speed.get('seconds', 0):.0f}",
                     speed.get("error") or "the GPU rows of \"Grid at once\""])
    grids = called_with(report.get("command", []), "--grids") if "seed001" in phases else []
    return (f"`{name}`: the prepared campaign (`python -m trainers.campaign"
            f"{'' if phases == every_phase else ' --phases ' + ' '.join(phases)}"
            f"{' --grids ' + ' '.join(grids) if grids else ''}`, `bench/README.md`) in one "
            f"device call on {report.get('gpu', report['device'])} ({report.get('gpu_memory_gib', '?')} GiB), torch "
            f"{report['torch']}: {report.get('seconds', 'n/a')} s of a {report['budget_s']:.0f} s budget "
            "(copied to `bench/results/`; the runs' records are in "
            "`checkpoints/runs/` and the findings in `trainers/README.md`).\n\n"
            + markdown_table(["phase", "status", "seconds", "result"], rows))


def grid_step(results: Path) -> str:
    """Milliseconds per stacked training step, several ways, per GPU measured (``grid_step_cuda.csv``; the CPU's
    ``grid_step_cpu.csv`` is cited in ``bench/README.md``, beside the trainers it decides for)."""
    frames = [pd.read_csv(p) for p in sorted(results.glob("grid_step_cuda*.csv"))]
    if not frames:
        raise FileNotFoundError(2, "no grid step results", str(results / "grid_step_cuda.csv"))
    frame = pd.concat(frames, ignore_index=True)
    failed = frame.get("compiled", pd.Series("no", index=frame.index)).astype(str).str.startswith("failed")
    frame["label"] = frame["mode"].str.replace("_", " ") + failed.map({True: " (compile failed: eager)", False: ""})
    frame["device_label"] = device_labels(frame)
    rows = [[r.device_label, r.label, "bf16" if r.bf16 else "fp32",
             "channels-last" if r.channels_last else "contiguous", f"{r.runs} x {r.batch}", f"{r.ms_per_step:.1f}",
             f"{r.images_per_s_summed:,.0f}"] for r in frame.itertuples()]
    return ("One training step (forward, backward, optimizer) of the `optimizers` grid's nine ConvNet runs on one "
            "shared 64-image batch, stacked as the campaign stacks them and one after another, in one process "
            "(`python bench/grid_step.py --device cuda` -> `bench/results/grid_step_cuda.csv`, with a "
            "`torch.profiler` table of the campaign's setting in `grid_step_cuda_profile.txt`).\n\n"
            + markdown_table(["device", "mode", "autocast", "layout", "runs x batch", "ms per step",
                              "images/s summed"], rows))


def footprint(results: Path) -> str:
    sizes = pd.read_csv(results / "model_size.csv")
    starts = pd.read_csv(results / "cold_start.csv")
    rows = [[f"`{r.model}`", f"{r.file_mib:.2f}", "" if pd.isna(r.parameters) else f"{int(r.parameters):,}"]
            for r in sizes.itertuples()]
    return ("Model files and the cold start of `python app.py` (`python bench/footprint.py` -> "
            "`bench/results/model_size.csv`, `cold_start.csv`): "
            f"page served after {starts['page_served_s'].median():.1f} s and first Detect answered after "
            f"{starts['first_detect_s'].median():.1f} s with `{starts['model'].iloc[0]}` "
            f"(median of {len(starts)} starts"
            + (f", on {starts['cpu'].iloc[0]}" if "cpu" in starts else "") + ").\n\n"
            + markdown_table(["model file", "MiB", "parameters"], rows))


def webcam_streams(results: Path) -> str:
    frame = pd.read_csv(results / "webcam_stream.csv")
    first = frame.iloc[0]
    rows = [[f"`{model}`", users, f"{g['fps'].min():.1f} - {g['fps'].max():.1f}", f"{g['p50_ms'].median():.0f}",
             f"{g['p95_ms'].max():.0f}", int(g["out_of_order"].sum()), int(g["late"].sum()),
             int(g["bad_frames"].sum()), int(g["error"].notna().sum()), int(g["server_rss_mib"].iloc[0]),
             int(g["cache_files"].iloc[0])]
            for (model, users), g in frame.groupby(["model", "users"], sort=False)]
    soak = soak_line(results / "soak" / "webcam_stream.csv")
    return (f"Visitors streaming a 30 fps 640x480 face clip at once through the Webcam tab's real endpoint of "
            f"`python app.py` on loopback (a fresh server per model), {first['duration_s']:g} s per run, each "
            "speaking the page's protocol "
            f"(`bench/gradio_stream.py`: a frame sent only when the last is answered, on the page's "
            f"{first['stream_every_s']:g} s capture timer), on {first['cpu']} ({first['cpu_threads']} threads, 1-min "
            f"load {first['load_avg_1min']} at the end) (`python bench/webcam_stream.py` -> "
            "`bench/results/webcam_stream.csv`, `webcam_stream.png`). fps: annotated frames each user received per "
            "second; round trip: frame sent -> annotated frame back (p50: median over users, p95: worst user); "
            "nothing piled up when no reply answered another frame than the last one sent (out of order) and none "
            "took over 1 s (late).\n\n"
            + markdown_table(["model", "users", "fps per user (min - max)", "round trip p50 ms", "p95 ms",
                              "out of order", "late", "bad frames", "broken streams", "server RSS MiB",
                              "files in cache"], rows)
            + f"\n\n{soak}\n\n![webcam streams](bench/results/webcam_stream.png)")


def soak_line(path: Path) -> str:
    """The long single-visitor stream: does anything grow with the stream's length?"""
    command = ("python bench/webcam_stream.py --users 1 --duration 600 --models checkpoint:ibug68_pip "
               "--out bench/results/soak")
    if not path.exists():
        return f"The 10-minute stream is not measured yet: `{command}` writes `bench/results/soak/webcam_stream.csv`."
    r = pd.read_csv(path).iloc[0]
    return (f"One visitor streaming `{r['model']}` for {r['duration_s'] / 60:g} minutes (`{command}`): "
            f"{r['fps']:.1f} fps, {int(r['frames'])} frames, {int(r['late'])} late; server RSS "
            f"{r['server_rss_start_mib']:.0f} MiB before, "
            f"{r['server_rss_mib']:.0f} MiB after; {int(r['cache_files'])} files ({r['cache_mib']:.1f} MiB) in "
            "Gradio's cache folder at the end (annotated frames travel inline, `kpdemo/ui/stream_image.py`).")


def webcam_browser(results: Path) -> str:
    frame = pd.read_csv(results / "webcam_browser.csv")
    first = frame.iloc[0]
    rows = [[r.model, f"{r.shown_fps:.1f} ({r.shown_fps_min:.1f} - {r.shown_fps_max:.1f})", f"{r.lag_median_ms:.0f}",
             f"{r.lag_p95_ms:.0f}", f"{r.server_fps:.1f}"] for r in frame.itertuples()]
    return (f"One visitor in headless Chromium whose fake camera plays a {first['clip_fps']} fps 640x480 clip, "
            f"server and browser on the same machine ({first['cpu_threads']} cores, 1-min load "
            f"{first['load_avg_1min']:.2f} at the end): annotated frames the page showed per second, and the lag from "
            "a frame's capture to its annotated display, read from frame "
            f"indices stamped in the clip; the models take turns, {int(first['rounds'])} rounds of "
            f"{first['seconds']:.0f} s each, as one browser drifts by a few frames a second over a minute "
            "(`python bench/webcam_browser.py` -> `bench/results/webcam_browser.csv`, `webcam_browser.png`).\n\n"
            + markdown_table(["model", "frames shown per s (slowest - fastest round)",
                              "capture -> display lag, median ms", "p95 ms", "server fps"], rows)
            + "\n\n![webcam in the browser](bench/results/webcam_browser.png)")


def jitter(results: Path) -> str:
    frame = pd.read_csv(results / "jitter.csv")
    rows = [[r.model, r.runs_on, f"{r.still_jitter_raw_px:.3f}", f"{r.still_jitter_smoothed_px:.3f}",
             f"{r.jitter_ratio:.2f}", f"{r.moving_added_lag_frames:.2f} ({r.moving_added_lag_ms:.0f} ms)"]
            for r in frame.itertuples()]
    first = frame.iloc[0]
    return ("Point jitter through the webcam path at 30 fps, with and without the One-Euro filter: a still face "
            f"with fresh sensor noise (sigma {first['noise_sigma']:g} grey levels) in every frame (RMS distance of "
            "each point from its mean position), and the lag the filter adds on a face sweeping side to side at up "
            "to 300 px/s (the delay that best aligns the smoothed track with the raw one) "
            "(`python bench/jitter.py` -> `bench/results/jitter.csv`, `jitter.png`). A checkpoint's live frames run "
            "on its int8 export where the CPU has int8 dot products, else on its half-width live-frame companion "
            "([int8 exports](#int8-exports)); both are measured, whatever the CPU.\n\n"
            + markdown_table(["model", "runs on", "still jitter raw px", "smoothed px", "smoothed / raw",
                              "lag added on the moving face, frames"], rows)
            + "\n\n![jitter](bench/results/jitter.png)")


def uncertainty(results: Path) -> str:
    frame = pd.read_csv(results / "uncertainty.csv")
    first = frame.iloc[0]
    rows = [[r.condition, r.found, r.wrong, pct(r.median_uncertainty), "n/a" if pd.isna(r.auc_wrong) else
             f"{r.auc_wrong:.2f}", pct(r.wrong_flagged), pct(r.good_flagged)] for r in frame.itertuples()]
    return (f"Does `Face.uncertainty` flag the answers that are wrong? {first['model']}'s full path on the "
            f"{first['split']} faces of 300-W (common set) and YouTube-Faces, and on the 300-W faces made hard as "
            "the sweeps above make them; a face's uncertainty is the mean of two spreads, as shares of the face's "
            "size: how far the answers its points average (crops turned by -10/0/+10 deg, each mirrored) lie from "
            "their mean, and how far its network's and its live-frame companion's answers on the upright crop lie "
            "from theirs (a second network, half as wide and trained apart, places the points of a face neither can "
            "see its own way: under an object the views' answers agree where the two networks do not). Wrong: NME "
            f"> 10%; good: NME < 5%; flagged: uncertainty over {100 * first['threshold']:g}% (`UNCERTAIN`, chosen on "
            "the validation split: `python bench/uncertainty.py --split val`); AUC: the chance that a wrong answer "
            "is more uncertain than a right one. The last row: pictures with no face (the 100 non-face patches of "
            "scikit-image's LFW subset in the demo data, 25x25 gray), where every face found is wrong. The app "
            "boxes a flagged face in magenta and says so; the API "
            "returns `uncertainty` with every face of a photo (`python bench/uncertainty.py` -> "
            "`bench/results/uncertainty.csv`, every face in `uncertainty_faces.csv`, `uncertainty.png`).\n\n"
            + markdown_table(["test faces", "found", "wrong", "median uncertainty", "AUC, wrong", "wrong flagged",
                              "good flagged"], rows)
            + "\n\n![uncertainty](bench/results/uncertainty.png)")


def load(results: Path) -> str:
    frame = pd.read_csv(results / "load.csv")
    total = frame[frame["endpoint"] == "all"].iloc[0]
    rows = [[r.endpoint, r.requests, r.identical_inputs, r.failed, r.truncated, f"{r.per_s:.1f}", f"{r.p50_ms:.0f}",
             f"{r.p95_ms:.0f}"] for r in frame.itertuples()]
    return (f"{int(total['clients'])} concurrent clients against `python app.py` on loopback, all on "
            f"`{total['model']}`: Detect and Align "
            "through gradio_client (every other request an identical example, the rest distinct renders) and "
            "webcam streams (the page's protocol, one request per frame), every answer decoded and size-checked "
            f"(`python bench/load.py` -> `bench/results/load.csv`, `load.png`), on {total['cpu']} "
            f"({total['cpu_threads']} threads, 1-min load {total['load_avg_1min']} at the end). "
            f"{int(total['requests'])} requests in {total['seconds']:g} s; server RSS "
            f"{total['rss_after_mark_mib']:.0f} MiB after the first {int(total['rss_mark_requests'])} requests, "
            f"{total['rss_after_run_mib']:.0f} MiB after the run ({total['rss_growth']:+.1%}); "
            f"{int(total['server_tracebacks'])} tracebacks in the server's log.\n\n"
            + markdown_table(["endpoint", "requests", "identical inputs", "failed", "truncated", "per s",
                              "p50 ms", "p95 ms"], rows)
            + "\n\n![load](bench/results/load.png)")


SECTIONS: list[tuple[str, Callable[[Path], str], str]] = [
    ("Shipped models", shipped_models, "python bench/checkpoint_eval.py"),
    ("Against MediaPipe and dlib", peers, "python bench/accuracy.py"),
    ("Landmarks alone", given_boxes, "python bench/given_boxes.py"),
    ("Seen in training?", seen_in_training,
     "python bench/accuracy.py --split train --datasets ibug300w --models checkpoint:ibug68_pip mediapipe468 dlib"),
    ("Turned faces", TURNED_FACES, "python bench/rotation.py"),
    ("Faces turned away", turned_away, "python bench/yaw.py"),
    ("Faces cut by the frame", CLOSEUPS, "python bench/closeup.py"),
    ("Small faces", SMALL_FACES, "python bench/small_faces.py"),
    ("Faces in dim light", LOW_LIGHT, "python bench/low_light.py"),
    ("Faces in side light", SIDE_LIGHT, "python bench/side_light.py"),
    ("Blurred faces", BLURRED, "python bench/blur.py"),
    ("Moving faces", MOVING, "python bench/motion_blur.py"),
    ("Covered faces", OCCLUDED, "python bench/occlusion.py"),
    ("Compressed faces", COMPRESSED, "python bench/jpeg.py"),
    ("Knowing when it is wrong", uncertainty, "python bench/uncertainty.py"),
    ("Webcam speed", webcam, "python bench/webcam_latency.py"),
    ("Faces followed on a stream", tracking, "python bench/tracking.py"),
    ("Photo path", photo_path, "python bench/photo_path.py"),
    ("Video files", video, "python bench/video.py"),
    ("int8 exports", int8_exports, "python bench/onnx_int8.py"),
    ("Webcam in the browser", webcam_browser, "python bench/webcam_browser.py"),
    ("Webcam streams, several visitors", webcam_streams, "python bench/webcam_stream.py"),
    ("Webcam jitter", jitter, "python bench/jitter.py"),
    ("Under load", load, "python bench/load.py"),
    ("Training speed", training, "python bench/train_speed.py"),
    ("Grid at once", grid_speed, "python bench/train_speed.py --grid optimizers"),
    ("GPU campaign", gpu_campaign, "python -m trainers.campaign --device cuda"),
    ("A grid step on the GPU", grid_step, "python bench/grid_step.py --device cuda"),
    ("Size and cold start", footprint, "python bench/footprint.py"),
]


def render(results: Path = RESULTS) -> str:
    """The results section's markdown, markers included."""
    parts = [START, "## Measured results", "",
             "Generated by `python bench/report.py` from the files in `bench/results/` (see `bench/README.md` for "
             "how to rerun each benchmark); do not edit by hand."]
    for title, make, command in SECTIONS:
        try:
            body = make(results)
        except FileNotFoundError as exc:
            body = f"Not measured yet: `{command}` writes `{Path(exc.filename).name}`."
        parts += ["", f"### {title}", "", body]
    return "\n".join([*parts, END])


def replace_section(text: str, section: str) -> str:
    """``text`` with its results section (markers included in ``section``) replaced."""
    return replace_between(text, START, END, section.removeprefix(START).removesuffix(END))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the results say")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = replace_section(current, render())
    if args.check:
        if wanted != current:
            print("README.md results are stale: run python bench/report.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    print(f"wrote the results section of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
