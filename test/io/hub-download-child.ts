// A separate process downloading one repository into a shared cache, for the concurrent-download test:
// argv = id, cacheDir, endpoint. Prints one JSON line: {dir} or {error, message}.
import { downloadCheckpoint } from "../../src/io/hub";

const [id, cacheDir, endpoint] = process.argv.slice(2);
downloadCheckpoint(id, { cacheDir, endpoint }).then(
  (dir) => console.log(JSON.stringify({ dir })),
  (e: Error) => console.log(JSON.stringify({ error: e.name, message: e.message })),
);
