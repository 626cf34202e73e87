// buildModel: an opened checkpoint → LanguageModel, through the architecture registry. Conversion runs inside
// tf.tidy so a checkpoint that fails half-way (a missing or misshapen tensor) leaves no tensors behind.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../io/config";
import type { Tokenizer } from "../io/tokenizer-types";
import type { WeightSource } from "../io/weight-source";
import { converterFor } from "./architectures";
import type { CanonicalModel } from "./canonical";
import { LanguageModel } from "./model";

/** What buildModel needs of an opened checkpoint (io's openCheckpoint returns a superset). */
export interface CheckpointParts {
  dir: string;
  config: ModelConfig;
  weights: WeightSource;
  tokenizer: Tokenizer;
}

export function buildModel(checkpoint: CheckpointParts, name: string = checkpoint.dir): LanguageModel {
  const convert = converterFor(checkpoint.config);
  // tf.tidy walks the returned object and keeps every tensor in it.
  const canonical = tf.tidy(() => convert(checkpoint.config, checkpoint.weights) as unknown as tf.TensorContainer) as unknown as CanonicalModel;
  return new LanguageModel(canonical, checkpoint.config, checkpoint.tokenizer, name);
}
