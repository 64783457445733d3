// One photo analysed by two workers at once, when it is alone and both are free: the first
// decodes it and, if it is large enough to gain, hands a copy of its pixels to the second;
// each searches one half (the halves overlap by the largest face the full-size pass finds)
// and then classifies half of the faces both found. Three round trips instead of one, so
// small photos stay with one worker.
import { analysisOf } from './results.js';

/** Whether the pool may split a job: one photo's analysis at the working size. */
export const splittable = (message) => message.op === 'analyze' && !message.options.smallFaces;

/** `ask(worker, message, transfer)` posts a stage to worker 0 or 1 and resolves to its
 *  reply; `key` names the photo in both workers. Resolves to the job's result. */
export async function analyzeSplit(ask, { message, transfer }, key) {
  const prepared = await ask(0, { op: 'prepare', key, source: message.source, options: message.options }, transfer);
  if (prepared.result) return prepared.result; // too small to gain: analysed whole
  const { copy, options } = prepared;
  const [own, other] = await Promise.all([
    ask(0, { op: 'detect-part', key, part: 0, parts: 2 }),
    ask(1, { op: 'detect-part', key, part: 1, parts: 2, pixels: copy }, [copy.data.buffer]),
  ]);
  // Each part's boxes as flat numbers (the module's FaceBox::to_numbers), one after the other.
  const found = new Float32Array(own.found.length + other.found.length);
  found.set(own.found);
  found.set(other.found, own.found.length);
  const shares = await Promise.all([0, 1].map((part) => ask(part, { op: 'classify-part', key, found, part, parts: 2 })));
  const faces = new Array(shares[0].count);
  for (const share of shares) for (const [place, face] of share.faces) faces[place] = face;
  const raw = {
    faces,
    detect_ms: Math.max(own.ms, other.ms),
    classify_ms: Math.max(...shares.map((s) => s.classify_ms)),
  };
  const result = analysisOf(raw, copy, prepared.width, prepared.height, options);
  result.timings.decodeMs = prepared.decodeMs;
  result.timings.workers = 2;
  if (prepared.picture) result.picture = prepared.picture;
  return result;
}
