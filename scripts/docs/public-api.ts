// Reads the public API from src/index.ts with TypeScript's compiler: its groups ("// ## Title" and the comment
// under it), the names each group exports, their kind and the doc comment each name resolves to. The README's API
// list is written from it, and test/docs/public-api.test.ts checks that every public name is documented.
import path from "node:path";
import ts from "typescript";

export interface PublicName {
  name: string;
  kind: "function" | "class" | "constant" | "namespace" | "type";
  /** The doc comment's text ("" when there is none). */
  doc: string;
  /** Where the name is declared, relative to the repository. */
  declaredIn: string;
}

export interface ApiGroup {
  title: string;
  about: string;
  names: PublicName[];
}

const ROOT = path.resolve(__dirname, "..", "..");
export const PUBLIC_ENTRY = path.join(ROOT, "src", "index.ts");

function kindOf(symbol: ts.Symbol): PublicName["kind"] {
  const f = symbol.flags;
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Variable) return "constant";
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) return "namespace";
  return "type";
}

/** The group heading above a statement: "// ## Title" and the comment lines that follow it. */
function groupHeading(text: string, node: ts.Node): { title: string; about: string } | null {
  const comments = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const lines = comments.map((c) => text.slice(c.pos, c.end)).filter((c) => c.startsWith("//")).map((c) => c.replace(/^\/\/\s?/, ""));
  const at = lines.findIndex((l) => l.startsWith("## "));
  if (at < 0) return null;
  return { title: lines[at].slice(3).trim(), about: lines.slice(at + 1).join(" ").trim() };
}

function docOf(checker: ts.TypeChecker, alias: ts.Symbol, target: ts.Symbol): string {
  const own = ts.displayPartsToString(alias.getDocumentationComment(checker)).trim();
  if (own) return own;
  const fromTarget = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
  if (fromTarget) return fromTarget;
  // `export * as aq from "…"`: the comment sits on the export statement.
  const declaration = alias.declarations?.[0];
  const statement = declaration && ts.isNamespaceExport(declaration) ? declaration.parent : undefined;
  if (!statement) return "";
  const text = statement.getSourceFile().text;
  const jsdoc = (ts.getLeadingCommentRanges(text, statement.getFullStart()) ?? []).map((c) => text.slice(c.pos, c.end)).filter((c) => c.startsWith("/**"));
  return jsdoc.map((c) => c.replace(/^\/\*\*|\*\/$/g, "").replace(/^\s*\* ?/gm, "").trim()).join(" ");
}

const read = new Map<string, ApiGroup[]>();

/** The groups of src/index.ts in order, each with the names it exports (in order) and their doc comments. */
export function readPublicApi(entry = PUBLIC_ENTRY): ApiGroup[] {
  if (!read.has(entry)) read.set(entry, parsePublicApi(entry));
  return read.get(entry)!;
}

function parsePublicApi(entry: string): ApiGroup[] {
  const options = { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true, skipLibCheck: true };
  const program = ts.createProgram([entry], options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry)!;
  const groups: ApiGroup[] = [];
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement)) continue;
    const heading = groupHeading(source.text, statement);
    if (heading) groups.push({ ...heading, names: [] });
    const group = groups.at(-1);
    if (!group) throw new Error(`${entry}: an export before the first "// ## Title" group heading`);
    const aliases: ts.Symbol[] = [];
    const clause = statement.exportClause;
    if (clause && ts.isNamedExports(clause)) {
      for (const element of clause.elements) aliases.push(checker.getSymbolAtLocation(element.name)!);
    } else if (clause && ts.isNamespaceExport(clause)) {
      aliases.push(checker.getSymbolAtLocation(clause.name)!);
    } else {
      throw new Error(`${entry}: \`export *\` hides which names are public; name them`);
    }
    for (const alias of aliases) {
      const target = alias.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(alias) : alias;
      const declaration = target.declarations?.[0];
      group.names.push({
        name: alias.name,
        kind: kindOf(target),
        doc: docOf(checker, alias, target),
        declaredIn: declaration ? path.relative(ROOT, declaration.getSourceFile().fileName) : "",
      });
    }
  }
  return groups;
}

/** The first sentence of a doc comment, on one line (a full stop inside brackets or code does not end it). */
export function firstSentence(doc: string): string {
  const flat = doc.replace(/\s+/g, " ").trim();
  let depth = 0;
  let code = false;
  for (let i = 0; i < flat.length; i++) {
    const c = flat[i];
    if (c === "`") code = !code;
    else if (!code && "([{".includes(c)) depth++;
    else if (!code && ")]}".includes(c)) depth = Math.max(0, depth - 1);
    else if (!code && depth === 0 && ".:;".includes(c) && (i + 1 === flat.length || flat[i + 1] === " ")) {
      return flat.slice(0, i) + ".";
    }
  }
  return flat;
}
