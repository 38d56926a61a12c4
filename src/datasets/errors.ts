// Errors for malformed dataset files: each names the file (and line where there is one) and the fix.

/** A dataset file that cannot be read as its layout requires. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  /** The file or folder at fault. */
  readonly file: string;
  /** 1-based line, when the problem is on one line of a text file. */
  readonly line: number | undefined;

  /**
   * @param file the file or folder at fault.
   * @param problem what is wrong.
   * @param fix what to do about it.
   * @param line 1-based line number, if any.
   */
  constructor(file: string, problem: string, fix: string, line?: number) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${problem}; ${fix}`);
    this.file = file;
    this.line = line;
  }
}
