// Preloaded (`node --require ./bench/native-deps.cjs --import tsx …`) by the CPU benchmarks' lmprobe workers, so that
// Arquero, an ES module package, is loaded by Node itself, as it is in the built package (dist/cjs), rather than
// transformed to CommonJS by tsx when lmprobe's TypeScript sources require it. With tsx's transform, V8 compiled the
// lens's and the layer similarity's table builders (lensTables, perPositionTable, Arquero's table() inlined) again
// after nearly every probe and threw the code away: ~30 s of compiling per 800 demo probes on a background thread,
// which took the core that onnxruntime's second thread needs (bench/results/cpu/v8-aborted-compiles-demo-probe.json;
// test/probe/v8-recompiles.test.ts checks both ways of running). The benchmarks should time what users run.
require("arquero");
