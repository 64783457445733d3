// The package's results in the command line's JSON shape (`genderlens predict --json`):
// what the cards draw from and what the page's downloads contain, so a file downloaded
// from the page reads like one written by the command line.

/** One face: `{ box: [x, y, w, h], label, likely, confidence, p_male, detector_score,
 *  landmarks: [[x, y] × 5] | null }`. */
export function cliFace(face) {
  const { x, y, width, height } = face.box;
  const l = face.landmarks;
  return {
    box: [x, y, width, height],
    label: face.label,
    likely: face.likely,
    confidence: face.confidence,
    p_male: face.pMale,
    detector_score: face.score,
    landmarks: l ? [l.rightEye, l.leftEye, l.noseTip, l.mouthRight, l.mouthLeft].map((p) => [p.x, p.y]) : null,
  };
}

/** A whole analysis, with its timings as the command line names them. */
export function cliAnalysis(analysis) {
  return {
    width: analysis.width,
    height: analysis.height,
    faces: analysis.faces.map(cliFace),
    detect_ms: analysis.timings.detectMs,
    classify_ms: analysis.timings.classifyMs,
  };
}
