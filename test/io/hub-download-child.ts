// A separate process downloading one repository into a shared cache, for the concurrent-download test:
// argv = id, cacheDir, endpoint[, timeoutMs]. Prints one JSON line: {dir} or {error, message, typed}.
import { LmprobeError } from "../../src/errors";
import { downloadCheckpoint } from "../../src/io/hub";

const [id, cacheDir, endpoint, timeoutMs] = process.argv.slice(2);
downloadCheckpoint(id, { cacheDir, endpoint, timeoutMs: timeoutMs ? Number(timeoutMs) : undefined }).then(
  (dir) => console.log(JSON.stringify({ dir })),
  (e: Error) => console.log(JSON.stringify({ error: e.name, message: e.message, typed: e instanceof LmprobeError })),
);
