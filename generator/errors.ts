/**
 * The errors and warnings of the generator. Every problem names where it was
 * found (`file:line`, a cluster URL, or a kind), so the CLI can print it as it
 * is and exit non-zero.
 */

/** A problem with the input (or the output) that stops the generation. */
export class GenerateError extends Error {
  /** Where the problem is: `path/to/file.yaml:12`, a URL, or a kind. */
  readonly where: string | undefined;

  constructor(message: string, where?: string, options?: { cause?: unknown }) {
    super(where ? `${where}: ${message}` : message, options);
    this.name = 'GenerateError';
    this.where = where;
  }
}

/** A problem the generator works around (e.g. a CRD version without a schema). */
export interface GenerateWarning {
  where: string;
  message: string;
}

/** Formats a warning as one line. */
export function formatWarning(w: GenerateWarning): string {
  return `${w.where}: ${w.message}`;
}

/** `1 kind`, `3 kinds`: a count with its noun in the right number, for messages and progress lines. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
