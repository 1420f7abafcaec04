/** One page of a list, and the cursor of the next one (null: nothing after this page). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/**
 * Keyset paging: the query asks for one row more than the page holds, so that a cursor is given only
 * when something does follow. The cursor is the last row's key, and the next page is the rows past
 * it in the list's order: rows already passed are never shifted by rows added meanwhile (as OFFSET
 * would be), so a reader paging on sees each row once.
 */
export function keysetPage<T>(rows: T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? keyOf(items[items.length - 1]!) : null };
}

/**
 * SQL conditions and their parameters, added one filter at a time: a list query names only the
 * conditions it uses, so Postgres plans each shape on its indexes (no "$1 IS NULL OR ..." catch-alls).
 * Column names and operators come from code, never from a request.
 */
export class SqlConditions {
  readonly values: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Adds `column operator value` when the value is given. */
  add(column: string, operator: '=' | '<' | '>' | '<=' | '>=', value: unknown): this {
    if (value !== undefined) {
      this.values.push(typeof value === 'bigint' ? value.toString() : value);
      this.clauses.push(`${column} ${operator} $${this.values.length}`);
    }
    return this;
  }

  /**
   * Adds a row comparison, `(a, b) > ($1, $2)`, when the values are given: a keyset on several
   * columns, which Postgres answers from an index on them in that order.
   */
  addRow(columns: readonly string[], operator: '<' | '>', values: readonly unknown[] | undefined): this {
    if (values !== undefined) {
      const placeholders = values.map((value) => {
        this.values.push(value);
        return `$${this.values.length}`;
      });
      this.clauses.push(`(${columns.join(', ')}) ${operator} (${placeholders.join(', ')})`);
    }
    return this;
  }

  /** The WHERE clause, or nothing when no condition was added. */
  where(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }

  /** The placeholder of one more parameter (a LIMIT). */
  parameter(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
