import { describe, expect, it } from 'vitest';
import { preparedName, preparedStatement } from '../../src/store/db.ts';

describe('preparedStatement', () => {
  it('names a statement once; the same name for another text is refused', () => {
    const sql = 'SELECT 1 AS prepared_statement_test';
    expect(preparedStatement('custos_test_prepared', sql)).toBe(sql);
    expect(preparedStatement('custos_test_prepared', sql)).toBe(sql);
    expect(preparedName(sql)).toBe('custos_test_prepared');
    expect(preparedName('SELECT 2')).toBeUndefined();
    expect(() => preparedStatement('custos_test_prepared', 'SELECT 3')).toThrow(/already used/);
  });
});
