// `lmprobe doctor`: to be implemented.
export async function run(_args: string[]): Promise<number> {
  throw new Error("lmprobe doctor is not implemented yet");
}
