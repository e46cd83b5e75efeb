/*
 * kpdemo, Webcam tab, "in this browser" mode: MediaPipe face mesh runs in the page (JavaScript + WebAssembly), so the
 * camera's frames never leave the visitor's device and the server does no work per frame.
 *
 * The model is the vendored npm package @mediapipe/face_mesh (see mediapipe_face_mesh/README.md), loaded from this
 * app's own static files: every URL is resolved next to this script's own URL, so nothing comes from a CDN and the
 * app may be mounted under any path. The panel (kpdemo/ui/webcam_browser.py) calls
 * window.kpdemoBrowserMesh.mount(element) from its js_on_load; the page then
 *   - asks the camera for 640x480 (unmirrored: points are in the camera's own coordinates, as on the server),
 *   - copies each video frame to a canvas, meshes that canvas, and draws the same canvas and its points on the view,
 *     so the points drawn always belong to the pixels shown,
 *   - reports "frames: N, with face: M, fps: X" in #browser-mesh-status (the server mode's wording; tests read it).
 * window.kpdemoBrowserMesh.snapshot() resolves with the next processed frame's pixels (PNG data URL) and its points,
 * so a test can run Python MediaPipe on exactly the pixels the page meshed.
 */
(() => {
  "use strict";

  const CAMERA_CONSTRAINTS = { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false };
  const MESH_OPTIONS = {
    maxNumFaces: 4, // as the server's MediaPipe predictor
    refineLandmarks: false, // 468 points, the server's default model
    minDetectionConfidence: 0.5,
    minTrackingConfidence: 0.5,
    selfieMode: false, // unmirrored, so points match the frame the camera delivers
  };
  const FPS_WINDOW = 30; // frames over which the rate is measured (about a second at camera rate)
  const POINT_RADIUS = 1.5;
  const POINT_COLOUR = "#00ff66";
  // The smallest module that uses a SIMD instruction (from wasm-feature-detect): only the SIMD build is vendored.
  const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
    65, 0, 253, 15, 253, 98, 11]);

  const scriptUrl = document.currentScript.src;
  const assetsUrl = new URL("mediapipe_face_mesh/", scriptUrl).href;
  let meshPromise = null; // one FaceMesh per page, created on first start (about 10 MB to fetch and compile)
  let active = null; // the mounted panel
  let resultsTo = null; // the panel whose frame the mesh is processing

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`could not load ${url}`));
      document.head.appendChild(script);
    });
  }

  /** The page's FaceMesh, ready to send frames to; results go to whichever panel is active. */
  function faceMesh() {
    if (!meshPromise) {
      meshPromise = (async () => {
        if (!WebAssembly.validate(SIMD_PROBE)) {
          throw new Error("this browser lacks WebAssembly SIMD, which the in-browser model needs; "
            + "choose \"on the server\" or a current browser");
        }
        await loadScript(assetsUrl + "face_mesh.js");
        const mesh = new window.FaceMesh({ locateFile: (file) => assetsUrl + file });
        mesh.setOptions(MESH_OPTIONS);
        mesh.onResults((results) => resultsTo && resultsTo.onResults(results));
        await mesh.initialize();
        return mesh;
      })();
      meshPromise.catch(() => { meshPromise = null; }); // a later start tries again
    }
    return meshPromise;
  }

  class Panel {
    constructor(element) {
      this.element = element;
      this.button = element.querySelector("#browser-mesh-toggle");
      this.view = element.querySelector("#browser-mesh-view");
      this.statusLine = element.querySelector("#browser-mesh-status");
      this.frame = document.createElement("canvas"); // the pixels given to the model
      this.video = document.createElement("video");
      this.video.muted = true;
      this.video.playsInline = true;
      this.stream = null;
      this.running = false;
      this.faces = [];
      this.snapshotWaiters = [];
      this.resetCounts();
      this.button.addEventListener("click", () => (this.running ? this.stop() : this.start()));
      this.button.disabled = false;
    }

    resetCounts() {
      this.frames = 0;
      this.withFace = 0;
      this.stamps = [];
    }

    say(note) {
      const stamps = this.stamps;
      const span = stamps.length > 1 ? (stamps[stamps.length - 1] - stamps[0]) / 1000 : 0;
      const fps = span > 0 ? (stamps.length - 1) / span : 0;
      const text = `frames: ${this.frames}, with face: ${this.withFace}, fps: ${fps.toFixed(1)}`;
      this.statusLine.textContent = note ? `${text} | ${note}` : text;
    }

    async start() {
      this.running = true;
      this.button.textContent = "Stop";
      this.resetCounts();
      try {
        this.say("asking for the camera"); // first: a visitor who says no downloads no model
        this.stream = await navigator.mediaDevices.getUserMedia(CAMERA_CONSTRAINTS).catch((error) => {
          throw new Error(`no camera (${error.name}: ${error.message}); allow this page to use the camera`);
        });
        this.video.srcObject = this.stream;
        await this.video.play();
        this.say("loading the in-browser model");
        const mesh = await faceMesh();
        this.say("running");
        await this.loop(mesh);
      } catch (error) {
        this.stop(`error: ${error.message}`);
      }
    }

    stop(note = "stopped") {
      this.running = false;
      this.button.textContent = "Start camera";
      if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
      this.stream = null;
      this.snapshotWaiters.splice(0).forEach(({ reject }) => reject(new Error(`the in-browser mesh stopped: ${note}`)));
      this.say(note);
    }

    /** Mesh frames one after another until stopped, or until the panel leaves the page (tab or mode switched). */
    async loop(mesh) {
      const ctx = this.frame.getContext("2d");
      while (this.running) {
        if (!this.element.isConnected || this.element.offsetParent === null) {
          this.stop();
          return;
        }
        const { videoWidth: width, videoHeight: height } = this.video;
        if (width && height) {
          if (this.frame.width !== width || this.frame.height !== height) {
            this.frame.width = this.view.width = width;
            this.frame.height = this.view.height = height;
          }
          ctx.drawImage(this.video, 0, 0, width, height);
          this.faces = [];
          resultsTo = this;
          await mesh.send({ image: this.frame }); // onResults has filled this.faces when this resolves
          this.frames += 1;
          this.withFace += this.faces.length > 0 ? 1 : 0;
          this.stamps.push(performance.now());
          if (this.stamps.length > FPS_WINDOW) this.stamps.shift();
          this.draw();
          this.answerSnapshots();
          this.say(this.faces.length ? "" : "no face in this frame");
        }
        await this.nextVideoFrame();
      }
    }

    nextVideoFrame() {
      return new Promise((resolve) => {
        if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(() => resolve());
        else requestAnimationFrame(() => resolve());
      });
    }

    onResults(results) {
      const { width, height } = this.frame;
      this.faces = (results.multiFaceLandmarks || []).map(
        (landmarks) => landmarks.map((p) => [p.x * width, p.y * height]));
    }

    draw() {
      const ctx = this.view.getContext("2d");
      ctx.drawImage(this.frame, 0, 0);
      ctx.fillStyle = POINT_COLOUR;
      for (const face of this.faces) {
        for (const [x, y] of face) {
          ctx.beginPath();
          ctx.arc(x, y, POINT_RADIUS, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }

    answerSnapshots() {
      if (!this.snapshotWaiters.length) return;
      const snapshot = { image: this.frame.toDataURL("image/png"), faces: this.faces, frames: this.frames };
      this.snapshotWaiters.splice(0).forEach(({ resolve }) => resolve(snapshot));
    }

    snapshot() {
      return new Promise((resolve, reject) => this.snapshotWaiters.push({ resolve, reject }));
    }
  }

  window.kpdemoBrowserMesh = {
    /** Attach to a freshly rendered panel; Gradio re-renders a tab's contents when it is shown again. */
    mount(element) {
      if (active && active.element !== element) active.stop();
      active = new Panel(element);
      active.say("press Start camera");
    },
    /** The next processed frame: {image: PNG data URL of the meshed pixels, faces: [[[x, y], ...]], frames}. */
    snapshot() {
      if (!active || !active.running) return Promise.reject(new Error("the in-browser mesh is not running"));
      return active.snapshot();
    },
  };
})();
