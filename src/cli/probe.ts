// `lmprobe probe`: to be implemented.
export async function run(_args: string[]): Promise<number> {
  throw new Error("lmprobe probe is not implemented yet");
}
