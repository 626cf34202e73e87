// Gradients tfjs-core does not define and the forward pass needs: TopK (MoE routing keeps the k largest router
// probabilities; their weights must pass the gradient back to the router's logits). Each kept value's gradient
// goes back to the position it was taken from; the indices, piecewise constant, have none.
import * as tf from "@tensorflow/tfjs-core";

export function registerExtraGradients(): void {
  if (tf.getGradient("TopK")) return;
  tf.registerGradient({
    kernelName: "TopK",
    inputsToSave: ["x"],
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => {
      const [dValues] = dy as tf.Tensor[];
      const [x, indices] = saved;
      const width = x.shape[x.rank - 1];
      // [..., k, width] one-hot rows weighted by each slot's gradient, summed over the k slots.
      return { x: () => tf.sum(tf.mul(tf.oneHot(indices as tf.Tensor, width), tf.expandDims(dValues, -1)), -2) };
    },
  });
}
