// A Node service using robustseg as a library (npm install robustseg, or the packed tarball):
// spawns a worker (the Python in ROBUSTSEG_PYTHON, with torch, grpcio and protobuf, or
// `pip install ./python_worker`), trains a tiny model unless one is given, segments an image
// with Predict and probes it with a PGD attack towards background. Prints a JSON summary.
//
//   ROBUSTSEG_PYTHON=/path/to/python node ts_service.mjs IMAGE.png [MODEL_ID] [WORKSPACE]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attackSpec, readImageFile, spawnWorker } from "robustseg";

const [image, givenModel, givenWorkspace] = process.argv.slice(2);
if (!image) {
  console.error("usage: node ts_service.mjs IMAGE.png [MODEL_ID] [WORKSPACE]");
  process.exit(2);
}
const workspace = givenWorkspace ?? mkdtempSync(join(tmpdir(), "robustseg-ts-"));
const worker = await spawnWorker({ workspace, device: "cpu" });
try {
  const { client } = worker;
  let modelId = givenModel;
  if (!modelId) {
    const created = await client.createDatasetResult({
      source: { source: { $case: "syntheticHistology", value: { tileSize: 32, numTrain: 16, numValidation: 8, numTest: 4, seed: 0 } } },
    });
    const [train, validation] = created.datasets;
    const trained = await client.trainResult({
      model: { architecture: { $case: "unet", value: { depth: 2, baseWidth: 8, upsampling: 0 } } },
      trainDatasetIds: [train.id],
      validationDatasetId: validation.id,
      config: { epochs: 2, batchSize: 8, learningRate: 0.01, seed: 0, augment: false },
    });
    modelId = trained.model.id;
  }
  const input = readImageFile(image);

  const summary = { model: modelId, image: input.name, height: input.height, width: input.width };
  for await (const event of client.predict({ modelId, probabilities: false, tiling: undefined }, [input])) {
    if (event.$case === "header") summary.classNames = event.value.classNames;
    if (event.$case === "image") {
      const counts = event.value.classPixelCounts;
      const total = counts.reduce((a, b) => a + b, 0);
      summary.classShares = Object.fromEntries(summary.classNames.map((n, i) => [n, counts[i] / total]));
    }
  }
  const model = await client.getModel(modelId);
  const attack = attackSpec({ method: "pgd", epsilon: 0.01, steps: 5, target: { class: "background" } }, model.classNames);
  for await (const event of client.probe({ modelId, attack, adversarialImages: false, tiling: undefined }, [input])) {
    if (event.$case === "image") summary.probe = event.value.figures;
  }
  console.log(JSON.stringify(summary, null, 2));
} finally {
  await worker.close();
}
