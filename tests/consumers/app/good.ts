// A typed consumer: every line type-checks under --strict.
import { GenderLens, GenderLensError, type Analysis, type Face, type ErrorCode } from 'genderlens';

export async function count(files: File[]): Promise<number> {
  const lens = await GenderLens.create({ workers: 2, idleTimeout: 10_000 });
  const first: Analysis = await lens.analyze(files[0], { maxFaces: 5, minConfidence: 0.8, signal: AbortSignal.timeout(5000) });
  const face: Face | undefined = first.faces[0];
  const width: number = face ? face.box.width : 0;
  const eye: number | undefined = face?.landmarks?.rightEye.x;
  const label: 'female' | 'male' | 'uncertain' | undefined = face?.label;
  let faces = first.faces.length;
  for await (const entry of lens.analyzeMany(files, { onProgress: ({ done, total }) => console.log(done, total) })) {
    if (entry.error) {
      const code: ErrorCode = entry.error.code;
      console.log(code, entry.source.name);
    } else {
      faces += entry.result.faces.length + entry.result.timings.totalMs * 0;
    }
  }
  try {
    await lens.analyze(new Uint8Array(8));
  } catch (e) {
    if (e instanceof GenderLensError && e.code === 'not-an-image') faces += 0;
  }
  console.log(width, eye, label, GenderLens.version.classifier.sha256);
  lens.close();
  return faces;
}
