"use strict";
// lmprobe's Jupyter kernel: tslab's converter, executor and protocol server, put together as tslab's startKernel
// does, with what a notebook user needs from a kernel that tslab 1.0.22 does not do:
//  - a failing cell sends a Jupyter `error` message and an `error` execute_reply (ename, evalue, a traceback
//    quoting the cell's own line) where tslab only writes the exception to stderr and replies "error" without
//    them, so nbconvert said only `<Error>: ` and JupyterLab showed no traceback;
//  - after an error, only the requests already waiting are aborted, and only when the request asked for it
//    (`stop_on_error`, as ipykernel does); tslab aborted every request arriving in the next 200 ms, so with
//    `nbconvert --allow-errors` the cells after a failing one came back empty;
//  - each execution publishes `execute_input` with its count, which is where nbconvert and the front ends read
//    a cell's `In [n]` from (tslab sends none, so executed notebooks had execution_count null);
//  - shorthand properties naming an earlier cell's binding work (./shorthand.js);
//  - every socket is bound before any is read or written (tslab reads some while others are still binding, see
//    LmprobeServer.init).
const fs = require("node:fs");
const { loadTslab } = require("./tslab-internals");
const { CellRegistry, cellScriptName, runtimeError, typeCheckError } = require("./cell-errors");
const { expandShorthand } = require("./shorthand");

const SYNC_PREFIX = "(function(exports, require) { ";
const ASYNC_PREFIX = "(async function(exports, require) { ";
const DIAGNOSTIC_FORMAT = "%s%d:%d - %s";

/**
 * An executor running one cell at a time: `run(code, count)` resolves to undefined when the cell ran, or to the
 * error content when it threw or did not type-check.
 */
function createCellExecutor(tslab, machineryDirs) {
  const cells = new CellRegistry();
  let current = null; // { count, insertions, diagnostics, thrown } of the cell being run
  let node = null;
  const convs = {
    get node() {
      if (!node) {
        const conv = tslab.converter.createConverter({ isJS: false, isBrowser: false });
        node = {
          ...conv,
          convert(prevDecl, src) {
            tslab.forgetMaps();
            const result = conv.convert(prevDecl, src);
            if (current && result.output) {
              cells.add(current.count, {
                ...cells.cells.get(current.count),
                maps: tslab.mapsOf(result.output),
                prefixLength: (result.hasToplevelAwait ? ASYNC_PREFIX : SYNC_PREFIX).length,
              });
              // Names the cell's script, so that its stack frames say which cell they are in.
              const output = `${result.output}\n//# sourceURL=${cellScriptName(current.count)}`;
              // tslab closes its wrapper function and calls it on the line after the output.
              cells.cells.get(current.count).wrapperCallLine = output.split("\n").length + 1;
              return { ...result, output };
            }
            return result;
          },
        };
      }
      return node;
    },
    get browser() {
      throw new Error("lmprobe's kernel runs cells in Node.js; `//%browser` cells are not supported");
    },
    close() {
      node?.close();
    },
  };
  // tslab's executor reports through this console: exceptions as console.error(value), type errors as
  // console.error(DIAGNOSTIC_FORMAT, file, line, column, message). They are collected for the error message.
  const reporter = {
    log: (...args) => console.log(...args),
    error: (...args) => {
      if (!current) return console.error(...args);
      if (args[0] === DIAGNOSTIC_FORMAT && args.length === 5) {
        current.diagnostics.push({ fileName: args[1] ? args[1].trim() : undefined, start: { line: args[2] - 1, character: args[3] - 1 }, messageText: String(args[4]) });
      } else if (args.length === 1) {
        current.thrown.push(args[0]);
      } else {
        console.error(...args);
      }
    },
  };
  const inner = tslab.executor.createExecutor(process.cwd(), convs, reporter);
  convs.node; // Warm the converter, as tslab does: the first cell should not pay for it.

  async function run(code, count) {
    const { code: expanded, insertions } = expandShorthand(tslab.ts, code, new Set(Object.keys(inner.locals)));
    cells.add(count, { src: code, insertions });
    const cell = { count, insertions, diagnostics: [], thrown: [] };
    current = cell;
    let ok;
    try {
      ok = await inner.execute(expanded);
    } catch (err) {
      // tslab's converter itself failed: report it as the cell's error rather than lose it.
      cell.thrown.push(err);
      ok = false;
    } finally {
      current = null;
    }
    const { diagnostics, thrown } = cell;
    if (ok) {
      // A `//%module` cell registers its code even with type errors; tslab prints those, and so does this.
      for (const d of diagnostics) console.error(`${d.start.line + 1}:${d.start.character + 1} - ${d.messageText}`);
      return undefined;
    }
    if (diagnostics.length > 0) return typeCheckError(diagnostics, cells, count, insertions);
    if (thrown.length > 0) return runtimeError(thrown[0], cells, machineryDirs);
    return { ename: "Error", evalue: "the cell failed", traceback: ["Error: the cell failed (tslab reported nothing more)"] };
  }

  return { run, inner };
}

/** The Jupyter handler: tslab's (kernel info, completion, inspection), with lmprobe's execution. */
function createHandlerClass(tslab) {
  return class LmprobeHandler extends tslab.jupyter.JupyterHandlerImpl {
    constructor(cellExecutor) {
      super(cellExecutor.inner, false);
      this.cellExecutor = cellExecutor;
      this.tail = Promise.resolve();
      this.received = 0;
      this.abortThrough = 0;
    }

    /** Queues an execute request; resolves to its execute_reply content. */
    executeRequest(req, io) {
      const seq = ++this.received;
      const run = this.tail.then(() => this.runRequest(req, io, seq));
      this.tail = run.catch(() => {});
      return run;
    }

    async runRequest(req, io, seq) {
      if (seq <= this.abortThrough) return { status: "aborted" };
      // Like the Python kernel (and tslab), output written after the cell finished still goes to that cell.
      process.stdout.write = this.createWriteToIopub("stdout", io.writeStream);
      process.stderr.write = this.createWriteToIopub("stderr", io.writeStream);
      tslab.jupyter.lastWriteDisplayData = io.writeDisplayData;
      const count = ++this.execCount;
      io.writeInput(req.code, count);
      const error = await this.cellExecutor.run(req.code, count);
      if (!error) return { status: "ok", execution_count: count, user_expressions: {}, payload: [] };
      io.writeError(error);
      // ipykernel's rule: a failure aborts the requests already queued behind it unless the request said
      // stop_on_error: false (nbconvert --allow-errors does). A request that reached the socket while the cell held
      // the thread (a synchronous loop) is queued too, but is read only once the event loop turns: let it turn
      // first, so that such a request counts as received.
      if (req.stop_on_error !== false) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        this.abortThrough = this.received;
      }
      return { status: "error", execution_count: count, ...error };
    }
  };
}

function createServerClass(tslab, tslabDir) {
  return class LmprobeServer extends tslab.jupyter.ZmqServer {
    /**
     * tslab 1.0.22's init (the same five sockets, the same handlers), with one change: every socket is bound before
     * any is read or written. tslab starts reading shell, control and heartbeat first and then binds all five at
     * once; a request answered while a bind is still pending fails with EBUSY ("Socket is blocked by a bind or
     * unbind operation"), that socket's read loop ends, and the kernel never answers. It happened on a busy machine
     * (test/e2e/workshop.e2e.test.ts in a full test run).
     */
    async init() {
      this.connInfo = JSON.parse(fs.readFileSync(this.configPath, "utf-8"));
      const zmq = require(require.resolve("zeromq", { paths: [tslabDir] }));
      this.iopub = new zmq.Publisher();
      this.shell = new zmq.Router();
      this.control = new zmq.Router();
      this.stdin = new zmq.Router();
      this.hb = new zmq.Reply();
      const info = this.connInfo;
      await Promise.all([
        this.bindSocket(this.iopub, info.iopub_port),
        this.bindSocket(this.shell, info.shell_port),
        this.bindSocket(this.control, info.control_port),
        this.bindSocket(this.stdin, info.stdin_port),
        this.bindSocket(this.hb, info.hb_port),
      ]);
      // Each loop ends when its socket is closed, as in tslab; an error in one reaches unhandledRejection (stderr).
      // Requests are handled as they arrive, not awaited (the handler queues executions), as in tslab; the heartbeat's
      // echo is awaited, since a reply socket takes its next request only after its reply.
      const serve = async (sock, handle) => {
        for await (const msgs of sock) await handle(msgs);
      };
      serve(this.shell, (msgs) => void this.handleShellMessage(this.shell, ...msgs));
      serve(this.control, (msgs) => void this.handleShellMessage(this.control, ...msgs));
      serve(this.hb, (msgs) => this.hb.send(msgs)); // heartbeat: echo (jupyter console uses it)
    }

    async handleExecute(sock, msg) {
      const publish = (type, content) => {
        const out = msg.createReply();
        out.header.msg_type = type;
        out.content = content;
        out.signAndSend(this.connInfo.key, this.iopub);
      };
      const io = {
        writeStream: (name, text) => publish("stream", { name, text }),
        writeDisplayData: (data, update) => publish(update ? "update_display_data" : "display_data", data),
        writeInput: (code, count) => publish("execute_input", { code, execution_count: count }),
        writeError: (error) => publish("error", error),
      };
      const content = await this.handler.executeRequest(msg.content, io);
      const reply = msg.createReply();
      reply.header.msg_type = "execute_reply";
      reply.content = content;
      reply.signAndSend(this.connInfo.key, sock);
    }
  };
}

/** Starts the kernel on the connection file `configPath` with the tslab found in `tslabDir`. */
function startKernel({ tslabDir, configPath, machineryDirs }) {
  const tslab = loadTslab(tslabDir);
  const cellExecutor = createCellExecutor(tslab, [tslabDir, __dirname, ...(machineryDirs ?? [])]);
  const Handler = createHandlerClass(tslab);
  const Server = createServerClass(tslab, tslabDir);
  const server = new Server(new Handler(cellExecutor), configPath);
  process.on("SIGINT", () => cellExecutor.inner.interrupt());
  // Errors after a cell finished (a callback, an unawaited promise) belong to no request: they go to stderr,
  // which is the last cell's output, as in tslab and the Python kernel.
  process.on("uncaughtException", (err) => console.error("UncaughtException:", err));
  process.on("unhandledRejection", (reason) => console.error("UnhandledPromiseRejection:", reason));
  return server.init();
}

module.exports = { startKernel, createCellExecutor };
