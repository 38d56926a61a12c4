// The CSV line splitter shared by extraction list files and training labels files.
import { describe, expect, it } from 'vitest';
import { splitCsvLine } from '../../src/util/csv.js';

describe('splitCsvLine', () => {
  it('splits by commas, or by tabs when the line has one (commas then stay in the fields)', () => {
    expect(splitCsvLine('a.mp4,left')).toEqual({ fields: ['a.mp4', 'left'] });
    expect(splitCsvLine('my,clip.mp4\tleft')).toEqual({ fields: ['my,clip.mp4', 'left'] });
    expect(splitCsvLine(' a.mp4 , left , x ')).toEqual({ fields: ['a.mp4', 'left', 'x'] });
    expect(splitCsvLine('a.mp4')).toEqual({ fields: ['a.mp4'] });
    expect(splitCsvLine('a.mp4,')).toEqual({ fields: ['a.mp4', ''] });
  });

  it('reads quoted fields with separators and doubled quotes inside', () => {
    expect(splitCsvLine('"a, ""b"".mp4", "rotate-cw"')).toEqual({ fields: ['a, "b".mp4', 'rotate-cw'] });
  });

  it('names quoting problems and still returns the fields', () => {
    expect(splitCsvLine('"a.mp4,left')).toEqual({
      fields: ['a.mp4,left'],
      problem: 'a quoted field has no closing quote',
    });
    expect(splitCsvLine('"a.mp4"x,left')).toEqual({ fields: ['a.mp4', 'left'], problem: 'text after a closing quote' });
  });
});
