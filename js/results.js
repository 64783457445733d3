// The module's analysis (the command line's JSON shape, in the analysed pixels) → the
// package's result (camelCase, boxes and points as objects, in the source's own pixels).

const POINTS = ['rightEye', 'leftEye', 'noseTip', 'mouthRight', 'mouthLeft'];

/** One face, its box and landmarks scaled by `sx`, `sy`. */
export function faceOf(face, sx = 1, sy = 1) {
  const [x, y, width, height] = face.box;
  return {
    box: { x: x * sx, y: y * sy, width: width * sx, height: height * sy },
    landmarks: face.landmarks
      ? Object.fromEntries(face.landmarks.map(([px, py], i) => [POINTS[i], { x: px * sx, y: py * sy }]))
      : null,
    label: face.label,
    likely: face.likely,
    confidence: face.confidence,
    pMale: face.p_male,
    score: face.detector_score ?? null,
  };
}

/** The analysis of `analysed` pixels taken from a `width` × `height` source, the faces
 *  filtered by `minConfidence` and cut to `maxFaces` (most confident detections first, as
 *  the module orders them). */
export function analysisOf(analysis, analysed, width, height, { minConfidence = 0, maxFaces = Infinity } = {}) {
  const sx = width / analysed.width;
  const sy = height / analysed.height;
  const faces = analysis.faces
    .filter((f) => f.confidence >= minConfidence)
    .slice(0, maxFaces)
    .map((f) => faceOf(f, sx, sy));
  return { width, height, faces, timings: { detectMs: analysis.detect_ms, classifyMs: analysis.classify_ms, workers: 1 } };
}
