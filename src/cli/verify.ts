// `lmprobe verify`: to be implemented.
export async function run(_args: string[]): Promise<number> {
  throw new Error("lmprobe verify is not implemented yet");
}
