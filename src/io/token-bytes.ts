// The bytes behind a token whose text alone is not valid UTF-8: a byte-fallback token of SentencePiece ("<0xE2>")
// or a byte-level BPE token holding part of a character ("â" for 0xE2 in GPT-2's byte alphabet). Decoded alone such
// a token reads "\uFFFD"; written as "<0xE2>" it stays readable, and display/ joins neighbouring byte tokens back
// into the character they spell.

let byteOfChar: Map<string, number> | undefined;

/**
 * GPT-2's byte alphabet, inverted: byte-level BPE writes each byte as a printable character (the printable Latin-1
 * bytes as themselves, the others shifted to U+0100 onwards, in byte order), as its ByteLevel pre-tokenizer does.
 */
function byteLevelAlphabet(): Map<string, number> {
  if (byteOfChar) return byteOfChar;
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  byteOfChar = new Map();
  let shifted = 0;
  for (let b = 0; b < 256; b++) byteOfChar.set(String.fromCharCode(printable(b) ? b : 256 + shifted++), b);
  return byteOfChar;
}

const BYTE_FALLBACK = /^<0x([0-9A-Fa-f]{2})>$/;

/** The token's bytes when its raw vocabulary form spells bytes (byte fallback or byte-level BPE), else null. */
export function tokenBytes(raw: string): number[] | null {
  const fallback = BYTE_FALLBACK.exec(raw);
  if (fallback) return [parseInt(fallback[1], 16)];
  const alphabet = byteLevelAlphabet();
  const bytes: number[] = [];
  for (const c of raw) {
    const b = alphabet.get(c);
    if (b === undefined) return null;
    bytes.push(b);
  }
  return bytes.length > 0 ? bytes : null;
}

/** Bytes written as "<0xE2><0x80>", the form byte-fallback vocabularies use. */
export function byteNotation(bytes: number[]): string {
  return bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`).join("");
}
