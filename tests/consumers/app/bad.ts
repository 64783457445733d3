// A wrong consumer: tsc --strict must refuse each marked line.
import { GenderLens } from 'genderlens';

export async function wrong(file: File): Promise<void> {
  const lens = await GenderLens.create({ workers: '2' }); // TS2322: workers is a number
  const { faces } = await lens.analyze(file, { maxFace: 3 }); // TS2561: no option maxFace
  const x: string = faces[0].box.x; // TS2322: x is a number
  const gone = faces[0].gender; // TS2339: no property gender
  await lens.analyze('photo.jpg'); // TS2345: a string is no image source
  console.log(x, gone);
}
