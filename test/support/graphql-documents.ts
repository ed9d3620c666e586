import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Kind, parse, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import ts from 'typescript';

const OPERATION_START = /^\s*(#[^\n]*\n\s*)*(\{|query\b|mutation\b|subscription\b)/;

/**
 * A TypeScript source file's GraphQL documents: every string or template literal that parses as an executable document,
 * and every named typed document (`RegisterDocument`) that it mentions. Interpolations are resolved when they name a
 * string constant of the same file; any other interpolation becomes a `__interpolated` field, which no schema has, so
 * that the rest of the document is still read.
 */
export function documentsInSource(fileName: string, text: string, typedDocuments: ReadonlyMap<string, DocumentNode>): DocumentNode[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const constants = new Map<string, ts.Expression>();
  const collectConstants = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) constants.set(node.name.text, node.initializer);
    ts.forEachChild(node, collectConstants);
  };
  collectConstants(source);

  const textOf = (expression: ts.Expression, seen: Set<string>): string | undefined => {
    if (ts.isStringLiteral(expression) || ts.isNoSubstitutionTemplateLiteral(expression)) return expression.text;
    if (ts.isTemplateExpression(expression)) {
      let result = expression.head.text;
      for (const span of expression.templateSpans) result += `${textOf(span.expression, seen) ?? ' __interpolated '}${span.literal.text}`;
      return result;
    }
    if (ts.isIdentifier(expression) && !seen.has(expression.text)) {
      const initializer = constants.get(expression.text);
      return initializer ? textOf(initializer, new Set([...seen, expression.text])) : undefined;
    }
    if (ts.isParenthesizedExpression(expression) || ts.isAsExpression(expression)) return textOf(expression.expression, seen);
    return undefined;
  };

  // A constant interpolated into a template is a piece of a document (a selection set), not one of its own.
  const interpolated = new Set<string>();
  const collectInterpolated = (node: ts.Node): void => {
    if (ts.isTemplateSpan(node) && ts.isIdentifier(node.expression)) interpolated.add(node.expression.text);
    ts.forEachChild(node, collectInterpolated);
  };
  collectInterpolated(source);

  const documents: DocumentNode[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && interpolated.has(node.name.text)) return;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)) {
      const candidate = textOf(node, new Set());
      if (candidate && OPERATION_START.test(candidate)) {
        try {
          documents.push(parse(candidate, { noLocation: true }));
        } catch {
          // Not GraphQL after all (or a fragment of one): other literals carry the documents this file sends.
        }
      }
      if (ts.isTemplateExpression(node)) node.templateSpans.forEach((span) => visit(span.expression));
      return;
    }
    if (ts.isIdentifier(node)) {
      const typed = typedDocuments.get(node.text);
      if (typed) documents.push(typed);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return documents;
}

/** The root fields each operation of `document` selects, as `Type.field` under the schema's root type names. */
export function rootFieldsOf(document: DocumentNode, rootTypes: { query: string; mutation: string; subscription: string }): string[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const coordinates: string[] = [];
  const collect = (selectionSet: SelectionSetNode, typeName: string, visited: Set<string>): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!selection.name.value.startsWith('__')) coordinates.push(`${typeName}.${selection.name.value}`);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet, typeName, visited);
      } else if (!visited.has(selection.name.value)) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet, typeName, new Set([...visited, selection.name.value]));
      }
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) collect(definition.selectionSet, rootTypes[definition.operation], new Set());
  }
  return coordinates;
}

/** TypeScript files under `directory`, recursively, skipping dependencies and generated code. */
export async function typeScriptFilesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !/[\\/](node_modules|__generated__)[\\/]/.test(path))
    .sort();
}

/**
 * Every root field that the TypeScript files under `directories` send, each with the first file that sends it.
 * `read` chooses the files (paths relative to `root`) to read.
 * @default every TypeScript file
 */
export async function rootFieldsSentUnder(
  root: string,
  directories: readonly string[],
  typedDocuments: ReadonlyMap<string, DocumentNode>,
  rootTypes: { query: string; mutation: string; subscription: string },
  read: (file: string) => boolean = () => true,
): Promise<Map<string, string>> {
  const sent = new Map<string, string>();
  for (const directory of directories) {
    for (const path of await typeScriptFilesUnder(join(root, directory))) {
      const file = relative(root, path);
      if (!read(file)) continue;
      for (const document of documentsInSource(file, await readFile(path, 'utf8'), typedDocuments)) {
        for (const coordinate of rootFieldsOf(document, rootTypes)) if (!sent.has(coordinate)) sent.set(coordinate, file);
      }
    }
  }
  return sent;
}
