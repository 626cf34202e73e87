// A stand-in for the running tslab kernel: a module registered in require.cache under the path of tslab's
// jupyter.js, whose lastWriteDisplayData records the messages show() sends.
import Module from "node:module";

export interface SentMessage {
  data: Record<string, unknown>;
  transient: { display_id?: string };
  update: boolean;
}

const FAKE_ID = "/fake-kernel/node_modules/tslab/dist/jupyter.js";

export function withFakeKernel<T>(body: (sent: SentMessage[]) => T): T {
  const sent: SentMessage[] = [];
  const mod = new Module(FAKE_ID);
  mod.filename = FAKE_ID;
  mod.loaded = true;
  mod.exports = {
    lastWriteDisplayData: (message: { data: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) =>
      sent.push({ data: message.data, transient: message.transient, update }),
  };
  require.cache[FAKE_ID] = mod;
  try {
    return body(sent);
  } finally {
    delete require.cache[FAKE_ID];
  }
}
