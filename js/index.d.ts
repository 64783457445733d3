// Types of the GenderLens package. Every number is in the source's own pixels.

/** Anything `analyze` reads an image from. Encoded bytes and files are decoded (EXIF
 *  orientation applied) inside a worker; elements and canvases are copied as they show. */
export type ImageSource =
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | ImageBitmap
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | VideoFrame;

export type Sex = 'female' | 'male';
/** `uncertain` below 75 % calibrated confidence, or for a face under 24 px. */
export type Label = Sex | 'uncertain';

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The detector's five points; right and left are the person's own. */
export interface Landmarks {
  rightEye: Point;
  leftEye: Point;
  noseTip: Point;
  mouthRight: Point;
  mouthLeft: Point;
}

export interface Face {
  box: Box;
  /** `null` for a face classified as a whole image (`classifyFace`). */
  landmarks: Landmarks | null;
  label: Label;
  /** The more probable of the two, whatever the confidence. */
  likely: Sex;
  /** Calibrated probability of `likely`, 0.5–1: a reported 0.9 is right about 9 times in 10. */
  confidence: number;
  /** Calibrated probability of `male`. */
  pMale: number;
  /** The detector's confidence that this is a face; `null` with no detection. */
  score: number | null;
}

export interface Timings {
  /** Reading the source into pixels of the working size, in the worker. */
  decodeMs: number;
  /** Finding the faces and cutting their crops. */
  detectMs: number;
  classifyMs: number;
  /** From the call to its result, waiting for a worker included. */
  totalMs: number;
  /** Workers that analysed this photo: 2 when it came alone to a pool with two free and was
   *  large enough to gain (detection in halves, the faces' classification shared). */
  workers: number;
}

export interface Analysis {
  /** The source's own size (after EXIF orientation). */
  width: number;
  height: number;
  /** Most confident detection first. */
  faces: Face[];
  timings: Timings;
  /** With `{ picture: true }`: the decoded picture, at most 1 600 px a side, to draw the
   *  results on (scale by `picture.width / width`). Close it when done. */
  picture?: ImageBitmap;
}

export interface AnalyzeOptions {
  signal?: AbortSignal;
  /** Leave out faces whose `confidence` is below this (0.5–1). */
  minConfidence?: number;
  /** At most this many faces, the detector's most confident first. */
  maxFaces?: number;
  /** Also search a photo larger than 1 024 px at up to 4 096 px, in tiles, for faces down to
   *  about 24 px there: slower (about a second more for 12 megapixels). */
  smallFaces?: boolean;
  /** Also hand back the decoded picture (`Analysis.picture`). */
  picture?: boolean;
}

export interface Progress {
  done: number;
  /** The number of sources, when they have a `length`. */
  total: number | undefined;
  /** The source just finished, by its place in `sources`. */
  index: number;
}

export interface AnalyzeManyOptions extends Omit<AnalyzeOptions, 'signal'> {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export type ManyResult<S = ImageSource> =
  | { index: number; source: S; result: Analysis; error?: undefined }
  | { index: number; source: S; error: GenderLensError; result?: undefined };

export interface CreateOptions {
  /** Workers to run at most; default `defaultWorkers()`. */
  workers?: number;
  /** Where the worker script is, when a bundler moved it (default: `./worker.js` beside
   *  this module). */
  workerUrl?: string | URL;
  /** Where the `.wasm` file is, when a bundler moved it (default: `./wasm/genderlens_bg.wasm`
   *  beside this module). */
  wasmUrl?: string | URL;
  /** Run the pipeline on a small photo while idle after start-up, so the first real photo
   *  runs on optimised code (default true). */
  warmUp?: boolean;
  /** Milliseconds after which an idle worker other than the first stops (default 30 000). */
  idleTimeout?: number;
}

export type ErrorCode =
  /** Not an image file of a known format (JPEG, PNG, GIF, WebP, BMP), or empty. */
  | 'not-an-image'
  /** Cut off or damaged: the file's header or data is incomplete. */
  | 'truncated'
  /** Over 12 000 px a side. */
  | 'too-large'
  /** A value that is no image source (or an element without pixels yet). */
  | 'unsupported-source'
  /** The call's `signal` was aborted. */
  | 'aborted'
  /** `close()` was called. */
  | 'closed'
  /** The worker running this photo stopped (out of memory, a trap); it was replaced. */
  | 'crashed'
  /** The model could not be loaded or started. */
  | 'model'
  | 'internal';

export class GenderLensError extends Error {
  readonly name: 'GenderLensError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  static from(error: unknown, fallbackCode?: ErrorCode): GenderLensError;
}

export interface Version {
  /** The package's version (the crate's). */
  package: string;
  classifier: { file: string; sha256: string; bytes: number };
  detector: { name: string; file: string; sha256: string; bytes: number; source: string };
}

export declare const MAX_DEFAULT_WORKERS: number;
/** `navigator.hardwareConcurrency` (2 where absent), between 1 and MAX_DEFAULT_WORKERS. */
export declare function defaultWorkers(): number;

export declare class GenderLens {
  static readonly version: Version;
  private constructor();
  static create(options?: CreateOptions): Promise<GenderLens>;
  readonly workers: number;
  analyze(source: ImageSource, options?: AnalyzeOptions): Promise<Analysis>;
  classifyFace(source: ImageSource, options?: { signal?: AbortSignal }): Promise<Face>;
  analyzeMany<S extends ImageSource>(
    sources: Iterable<S> | AsyncIterable<S>,
    options?: AnalyzeManyOptions,
  ): AsyncGenerator<ManyResult<S>, void, undefined>;
  /** Stops every worker: a call under way or made after fails with code 'closed'. */
  close(): void;
}
