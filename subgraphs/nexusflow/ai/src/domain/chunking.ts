import { getEncoding, type Tiktoken } from 'js-tiktoken';

export interface ChunkingOptions {
  /** The most tokens a chunk holds: small enough that a chunk is about one thing, which is what its vector can say. */
  maxTokens: number;
  /** Tokens each chunk repeats from the end of the one before, so that a sentence cut at a boundary is whole in one of them. */
  overlapTokens: number;
}

export const DEFAULT_CHUNKING: ChunkingOptions = { maxTokens: 400, overlapTokens: 60 };

export interface TextChunk {
  ordinal: number;
  text: string;
  tokens: number;
}

let encoding: Tiktoken | undefined;

/**
 * Tokens as OpenAI's current models count them (o200k_base), the same tokenizer the request limit counts with: a chunk's
 * size is then what the embedding model is charged and limited by, which characters only approximate.
 */
export function countTokens(text: string): number {
  encoding ??= getEncoding('o200k_base');
  return encoding.encode(text).length;
}

interface Piece {
  text: string;
  tokens: number;
}

/** Halves a word longer than a chunk (a URL, a base64 blob) by code points until each half fits. */
function fitting(text: string, maxTokens: number, count: (text: string) => number): Piece[] {
  const tokens = count(text);
  const characters = Array.from(text);
  if (tokens <= maxTokens || characters.length <= 1) return [{ text, tokens }];
  const middle = Math.ceil(characters.length / 2);
  return [
    ...fitting(characters.slice(0, middle).join(''), maxTokens, count),
    ...fitting(characters.slice(middle).join(''), maxTokens, count),
  ];
}

/**
 * Splits text into chunks of at most `maxTokens` tokens that overlap by up to `overlapTokens`, cutting only between
 * words (each word with the whitespace before it, as the tokenizer itself splits), so that no chunk starts or ends
 * mid-word. A chunk's token count is the sum of its words' counts, which matches counting the joined text to within a
 * token or two at the seams. The same text and options always give the same chunks.
 */
export function chunkText(
  text: string,
  options: ChunkingOptions = DEFAULT_CHUNKING,
  count: (text: string) => number = countTokens,
): TextChunk[] {
  if (options.maxTokens < 1 || options.overlapTokens < 0 || options.overlapTokens >= options.maxTokens)
    throw new RangeError('Chunks need maxTokens of at least 1 and an overlap smaller than it');
  const pieces = (text.match(/\s*\S+/g) ?? []).flatMap((word) => fitting(word, options.maxTokens, count));
  const chunks: TextChunk[] = [];
  let start = 0;
  while (start < pieces.length) {
    let end = start;
    let tokens = 0;
    while (end < pieces.length && (end === start || tokens + pieces[end]!.tokens <= options.maxTokens)) tokens += pieces[end++]!.tokens;
    chunks.push({
      ordinal: chunks.length,
      text: pieces
        .slice(start, end)
        .map((piece) => piece.text)
        .join('')
        .trim(),
      tokens,
    });
    if (end === pieces.length) break;
    // Step back over whole words worth at most the overlap, always moving forward by at least one word.
    let next = end;
    let overlap = 0;
    while (next - 1 > start && overlap + pieces[next - 1]!.tokens <= options.overlapTokens) overlap += pieces[--next]!.tokens;
    start = next;
  }
  return chunks;
}
