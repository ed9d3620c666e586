import { parse as parseYaml } from 'yaml';

/** A committed YAML file's content, `{}` when empty; a syntax error names the file, with the parser's line and column. */
export function readYaml(file: string, raw: string): unknown {
  try {
    return parseYaml(raw) ?? {};
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}
