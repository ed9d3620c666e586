import { describe, expect, it } from 'vitest';
import { chunkText, countTokens } from '../src/domain/chunking.ts';

/** One token a word, so that sizes and overlaps can be read off the test. */
const words = (text: string) => text.trim().split(/\s+/).length;

describe('chunking text for embedding', () => {
  const numbered = Array.from({ length: 10 }, (_, index) => `w${index}`).join(' ');

  it('cuts text into chunks of at most maxTokens, each repeating up to overlapTokens of the one before', () => {
    const chunks = chunkText(numbered, { maxTokens: 4, overlapTokens: 1 }, words);
    expect(chunks.map((chunk) => chunk.text)).toEqual(['w0 w1 w2 w3', 'w3 w4 w5 w6', 'w6 w7 w8 w9']);
    expect(chunks.map((chunk) => chunk.ordinal)).toEqual([0, 1, 2]);
    expect(chunks.map((chunk) => chunk.tokens)).toEqual([4, 4, 4]);
  });

  it('without overlap, covers every word exactly once', () => {
    const chunks = chunkText(numbered, { maxTokens: 3, overlapTokens: 0 }, words);
    expect(chunks.map((chunk) => chunk.text).join(' ')).toBe(numbered);
  });

  it('keeps a short text whole, and gives an empty or blank text no chunks', () => {
    expect(chunkText('  Just a note.  ').map((chunk) => chunk.text)).toEqual(['Just a note.']);
    expect(chunkText('')).toEqual([]);
    expect(chunkText(' \n\t ')).toEqual([]);
  });

  it('never cuts a word, except one longer than a whole chunk, which it halves until each part fits', () => {
    const blob = 'x'.repeat(64);
    const chunks = chunkText(`before ${blob} after`, { maxTokens: 5, overlapTokens: 0 });
    expect(chunks.every((chunk) => countTokens(chunk.text) <= 5)).toBe(true);
    expect(
      chunks
        .map((chunk) => chunk.text)
        .join('')
        .replace(/\s/g, ''),
    ).toBe(`before${blob}after`);
  });

  it('counts with the real tokenizer, and gives the same chunks for the same text every time', () => {
    const text = 'Workflows run steps in order. Each step may call an HTTP endpoint, wait, or ask a model. '.repeat(40);
    const first = chunkText(text, { maxTokens: 50, overlapTokens: 10 });
    expect(first.length).toBeGreaterThan(1);
    for (const chunk of first) expect(Math.abs(countTokens(chunk.text) - chunk.tokens)).toBeLessThanOrEqual(2);
    expect(chunkText(text, { maxTokens: 50, overlapTokens: 10 })).toEqual(first);
  });

  it('refuses an overlap as large as a chunk, which would never move forward', () => {
    expect(() => chunkText(numbered, { maxTokens: 3, overlapTokens: 3 }, words)).toThrow(RangeError);
  });
});
