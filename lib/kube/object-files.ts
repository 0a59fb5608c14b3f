// Loads Kubernetes objects (for the embedded API server, kpr render, the lab) from YAML or JSON files:
// multi-document files, directories of them, and `kind: List` flattened.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import * as z from 'zod';
import { KubeError } from './errors.ts';

export interface LoadedObject {
  /** Where the object came from: "file.yaml document 2" (1-based), plus "item N" inside a List. */
  source: string;
  object: Record<string, unknown>;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

const identitySchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
});

function flatten(doc: unknown, source: string, out: LoadedObject[]): void {
  const parsed = identitySchema.safeParse(doc);
  if (!parsed.success) {
    throw new KubeError('BAD_OBJECTS', `not a Kubernetes object: ${z.prettifyError(parsed.error)}`, { object: source });
  }
  const obj = parsed.data;
  if (obj.kind === 'List' || obj.kind.endsWith('List')) {
    const items = obj.items ?? [];
    if (!Array.isArray(items)) throw new KubeError('BAD_OBJECTS', 'List items must be an array', { object: source });
    items.forEach((item, i) => flatten(item, `${source} item ${i + 1}`, out));
    return;
  }
  out.push({ source, object: obj });
}

/** YAML documents separated by `---` lines, each parsed on its own so that errors name the document. */
function yamlDocuments(text: string): string[] {
  return text.split(/^---[ \t]*(?:#.*)?$/m);
}

function isBlank(doc: string): boolean {
  return doc.split('\n').every((line) => line.trim() === '' || line.trim().startsWith('#'));
}

/**
 * Parses one file's text. JSON is kept exactly as written (use it for deliberately malformed objects);
 * YAML goes through client-node's loadAllYaml, whose typed models drop unknown fields and coerce
 * mistyped ones as a client would.
 */
export function parseObjects(text: string, file: string): LoadedObject[] {
  const out: LoadedObject[] = [];
  if (extname(file) === '.json') {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new KubeError('BAD_OBJECTS', 'invalid JSON', { object: file, cause: err });
    }
    if (Array.isArray(doc)) doc.forEach((d, i) => flatten(d, `${file} item ${i + 1}`, out));
    else flatten(doc, file, out);
    return out;
  }
  yamlDocuments(text).forEach((doc, i) => {
    if (isBlank(doc)) return;
    const source = `${file} document ${i + 1}`;
    let loaded: unknown[];
    try {
      // A JSON round trip turns the client's model instances (and their Dates) into plain JSON values.
      loaded = JSON.parse(JSON.stringify(loadAllYaml(doc))) as unknown[];
    } catch (err) {
      throw new KubeError('BAD_OBJECTS', 'invalid YAML', { object: source, cause: err });
    }
    for (const obj of loaded) flatten(obj, source, out);
  });
  return out;
}

/** Loads a file, or every .yaml/.yml/.json file directly in a directory (in name order). */
export async function loadObjects(path: string): Promise<LoadedObject[]> {
  let files: string[];
  try {
    const info = await stat(path);
    files = info.isDirectory()
      ? (await readdir(path)).filter((f) => EXTENSIONS.has(extname(f))).sort().map((f) => join(path, f))
      : [path];
  } catch (err) {
    throw new KubeError('BAD_OBJECTS', 'cannot read objects', { object: path, cause: err });
  }
  const out: LoadedObject[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new KubeError('BAD_OBJECTS', 'cannot read file', { object: file, cause: err });
    }
    out.push(...parseObjects(text, file));
  }
  return out;
}
