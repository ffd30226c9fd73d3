// Method two's scorer over the worker: a CandidateScorer (ts/selection) answered by the
// ScoreCandidates RPC. The contract's rows are ragged: every candidate is one row with its own
// image index, so per-image lists are flattened in order, never padded, and the (M,) losses are
// split back into the same lists.
import type { WorkerClient } from "../client/worker-client.js";
import { CandidateScoring, type ScoreCandidatesRequest } from "../generated/robustseg/v1/attack.js";
import type { CandidateEstimator, CandidateScorer, EstimateRequest, ScoreRequest } from "../selection/scoring.js";
import { assertSignVector, SelectionError } from "../selection/signs.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";
import { float64Values, int8Tensor, uint8Values } from "./tensors.js";

export interface WorkerScorerParams {
  modelId: string;
  datasetId: string;
  /** ε of the per-class FGSM directions. */
  epsilon: number;
  /** Also project x_s onto the ε-ball around x. */
  project: boolean;
  classCount: number;
  /** Share the images of a call among torch.distributed processes (the same losses as one process). */
  distributed?: DistributedParams | undefined;
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
      scoring: CandidateScoring.CANDIDATE_SCORING_LOSS,
      centres: undefined,
      distributed: distributedMessage(params.distributed),
    },
    rowsPerImage,
  };
}

/** The flat LOGIT_ADDITIVE request: the rows of `flattenScoreRequest` and each row's centre. */
export function flattenEstimateRequest(
  request: EstimateRequest,
  params: WorkerScorerParams,
): { message: ScoreCandidatesRequest; rowsPerImage: number[] } {
  const { message, rowsPerImage } = flattenScoreRequest(request, params);
  const c = params.classCount;
  if (request.centres.length !== request.imageIndices.length) {
    throw new SelectionError(`request has ${request.imageIndices.length} images but ${request.centres.length} centres`);
  }
  const m = message.imageIndices.length;
  const centres = new Int8Array(m * c);
  let row = 0;
  request.centres.forEach((centre, j) => {
    const signs = assertSignVector(centre, c, `centre of image ${String(request.imageIndices[j])}`);
    for (let k = 0; k < (rowsPerImage[j] as number); k++) centres.set(signs, (row++) * c);
  });
  return {
    message: { ...message, scoring: CandidateScoring.CANDIDATE_SCORING_LOGIT_ADDITIVE, centres: int8Tensor(centres, m, c) },
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

/** Forward passes the worker reported (ScoreCandidates' forward_passes), summed over calls. */
export interface ForwardPassCounter {
  forwardPasses: number;
}

export function workerScorer(client: WorkerClient, params: WorkerScorerParams, counter?: ForwardPassCounter): CandidateScorer {
  return async (request, options) => {
    const { message, rowsPerImage } = flattenScoreRequest(request, params);
    const m = message.imageIndices.length;
    if (m === 0) return rowsPerImage.map(() => new Float64Array(0));
    const response = await client.scoreCandidates(message, { signal: options.signal });
    if (counter) counter.forwardPasses += response.forwardPasses;
    return splitLosses(float64Values(response.losses, m, "ScoreCandidates losses"), rowsPerImage);
  };
}

/** The worker's LOGIT_ADDITIVE estimates as a CandidateEstimator (the surrogate strategy's). */
export function workerEstimator(client: WorkerClient, params: WorkerScorerParams, counter?: ForwardPassCounter): CandidateEstimator {
  return async (request, options) => {
    const { message, rowsPerImage } = flattenEstimateRequest(request, params);
    const m = message.imageIndices.length;
    if (m === 0) return rowsPerImage.map(() => ({ values: new Float64Array(0), exact: new Uint8Array(0) }));
    const response = await client.scoreCandidates(message, { signal: options.signal });
    if (counter) counter.forwardPasses += response.forwardPasses;
    const values = splitLosses(float64Values(response.losses, m, "ScoreCandidates losses"), rowsPerImage);
    const exact = uint8Values(response.exact, m, "ScoreCandidates exact");
    let start = 0;
    return values.map((v) => {
      const row = { values: v, exact: exact.subarray(start, start + v.length) };
      start += v.length;
      return row;
    });
  };
}
