// One CSV line split into fields, for the two list layouts that share it (extraction list files,
// training labels files): separated by a tab when the line has one, else by commas; a field may
// be wrapped in double quotes (`""` for a quote, separators inside kept); fields are trimmed.

/** The fields of a line, and what is wrong with its quoting (the fields are still returned). */
export interface CsvLine {
  fields: string[];
  /** Set when a quoted field has no closing quote or text follows a closing quote. */
  problem?: string;
}

/** Splits one line (see the file comment). */
export function splitCsvLine(line: string): CsvLine {
  const sep = line.includes('\t') ? '\t' : ',';
  const fields: string[] = [];
  let problem: string | undefined;
  let i = 0;
  for (;;) {
    while (line[i] === ' ') {
      i++;
    }
    let v = '';
    if (line[i] === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          v += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          closed = true;
          break;
        } else {
          v += line[i];
          i++;
        }
      }
      if (!closed) {
        problem ??= 'a quoted field has no closing quote';
      }
      const next = line.indexOf(sep, i);
      const end = next < 0 ? line.length : next;
      if (line.slice(i, end).trim() !== '') {
        problem ??= 'text after a closing quote';
      }
      v = v.trim();
      i = end;
    } else {
      const next = line.indexOf(sep, i);
      const end = next < 0 ? line.length : next;
      v = line.slice(i, end).trim();
      i = end;
    }
    fields.push(v);
    if (i >= line.length) {
      return problem === undefined ? { fields } : { fields, problem };
    }
    i++; // the separator
  }
}
