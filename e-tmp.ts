import * as tf from "@tensorflow/tfjs-core";
import { hfToGguf } from "./test/tools/gguf-from-hf";
import { llamaCppLogProbs, llamaCppTokenize } from "./test/tools/llama-cpp-reference";
import { loadModel } from "./src/load";
async function lp(file: string, tokens: number[]) {
  const m = await loadModel(file, { backend: "cpu" });
  const r = m.run([tokens] as any);
  const out = tf.tidy(() => tf.logSoftmax(r.logits.squeeze([0]) as tf.Tensor2D).arraySync() as number[][]);
  r.dispose(); m.dispose();
  return out;
}
function diff(a: number[][], b: Float64Array[]) { let m = 0; a.forEach((row, i) => row.forEach((v, j) => { if (b[i][j] > Math.log(1e-5)) m = Math.max(m, Math.abs(v - b[i][j])); })); return m; }
(async () => {
  const prompt = "The quick brown fox jumps over the lazy dog. Über 北京 Москва";
  const dir = "/tmp/wide-llama";
  const fF = hfToGguf(dir, `/tmp/e-F32.gguf`, { type: "F32" });
  const toks = await llamaCppTokenize(fF, prompt);
  const lpFloat = await lp(fF, toks);
  for (const type of ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]) {
    const f = hfToGguf(dir, `/tmp/e-${type}.gguf`, { type: "F32", tokenEmbeddingType: type });
    const ref = await llamaCppLogProbs(f, toks, 512);
    const mine = await lp(f, toks);
    console.log(type, "lmprobe-vs-llamacpp", diff(mine, ref).toExponential(2), "float-vs-llamacpp", diff(lpFloat, ref).toExponential(2));
  }
  process.exit(0);
})();
