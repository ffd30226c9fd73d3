// Method two's scorer over the worker: a CandidateScorer (ts/selection) answered by the
// ScoreCandidates RPC. The contract's rows are ragged: every candidate is one row with its own
// image index, so per-image lists are flattened in order, never padded, and the (M,) losses are
// split back into the same lists.
import type { WorkerClient } from "../client/worker-client.js";
import type { ScoreCandidatesRequest } from "../generated/robustseg/v1/attack.js";
import type { CandidateScorer, ScoreRequest } from "../selection/scoring.js";
import { assertSignVector, SelectionError } from "../selection/signs.js";
import { float64Values, int8Tensor } from "./tensors.js";

export interface WorkerScorerParams {
  modelId: string;
  datasetId: string;
  /** ε of the per-class FGSM directions. */
  epsilon: number;
  /** Also project x_s onto the ε-ball around x. */
  project: boolean;
  classCount: number;
}

/** The flat request: one row per candidate, `imageIndices[m]` the image of row m. */
export function flattenScoreRequest(
  request: ScoreRequest,
  params: WorkerScorerParams,
): { message: ScoreCandidatesRequest; rowsPerImage: number[] } {
  const c = params.classCount;
  if (request.candidates.length !== request.imageIndices.length) {
    throw new SelectionError(`request has ${request.imageIndices.length} images but ${request.candidates.length} candidate lists`);
  }
  const rowsPerImage = request.candidates.map((list) => list.length);
  const m = rowsPerImage.reduce((a, b) => a + b, 0);
  const data = new Int8Array(m * c);
  const imageIndices: number[] = [];
  let row = 0;
  request.candidates.forEach((list, j) => {
    const image = request.imageIndices[j] as number;
    list.forEach((s, k) => {
      data.set(assertSignVector(s, c, `candidate ${k} of image ${image}`), row * c);
      imageIndices.push(image);
      row++;
    });
  });
  return {
    message: {
      modelId: params.modelId,
      datasetId: params.datasetId,
      epsilon: params.epsilon,
      project: params.project,
      imageIndices,
      candidates: int8Tensor(data, m, c),
    },
    rowsPerImage,
  };
}

/** Splits the (M,) losses into the per-image lists of the request. */
export function splitLosses(losses: Float64Array, rowsPerImage: readonly number[]): Float64Array[] {
  const out: Float64Array[] = [];
  let start = 0;
  for (const n of rowsPerImage) {
    out.push(losses.subarray(start, start + n));
    start += n;
  }
  return out;
}

export function workerScorer(client: WorkerClient, params: WorkerScorerParams): CandidateScorer {
  return async (request, options) => {
    const { message, rowsPerImage } = flattenScoreRequest(request, params);
    const m = message.imageIndices.length;
    if (m === 0) return rowsPerImage.map(() => new Float64Array(0));
    const response = await client.scoreCandidates(message, { signal: options.signal });
    return splitLosses(float64Values(response.losses, m, "ScoreCandidates losses"), rowsPerImage);
  };
}
