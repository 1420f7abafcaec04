import { readFile } from 'node:fs/promises';

import type { Pool } from 'pg';

/**
 * Compares prisma/schema.prisma with a migrated database. Prisma's own `migrate diff` needs the native
 * schema engine, which cannot be installed here (NOTES.md), so this reads the schema's models itself
 * and checks, for every model: the table exists; it has exactly the model's columns; each column has
 * the type and nullability the field says; the primary key and every @@unique / @unique exist.
 * Hand-written migrations can then not drift from the schema unnoticed.
 */
export interface ModelField {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  nativeType?: string;
  relation: boolean;
}

export interface Model {
  name: string;
  table: string;
  fields: ModelField[];
  primaryKey: string[];
  uniques: string[][];
}

const SCALARS = new Set([
  'String',
  'Int',
  'BigInt',
  'Float',
  'Decimal',
  'Boolean',
  'DateTime',
  'Json',
  'Bytes',
]);

/**
 * The Postgres `udt_name` Prisma creates for each scalar: by default, and for each @db native type.
 * Exact, not "any compatible": a timestamp where timestamptz is meant, or a real where a double is,
 * takes every write without complaint and changes what is read back.
 */
const DEFAULT_COLUMN_TYPE: Record<string, string> = {
  String: 'text',
  Int: 'int4',
  BigInt: 'int8',
  Float: 'float8',
  Decimal: 'numeric',
  Boolean: 'bool',
  DateTime: 'timestamp',
  Json: 'jsonb',
  Bytes: 'bytea',
};

const NATIVE_COLUMN_TYPE: Record<string, string> = {
  Text: 'text',
  VarChar: 'varchar',
  Char: 'bpchar',
  Uuid: 'uuid',
  Citext: 'citext',
  SmallInt: 'int2',
  Integer: 'int4',
  BigInt: 'int8',
  Real: 'float4',
  DoublePrecision: 'float8',
  Decimal: 'numeric',
  Money: 'money',
  Boolean: 'bool',
  Timestamp: 'timestamp',
  Timestamptz: 'timestamptz',
  Date: 'date',
  Time: 'time',
  Timetz: 'timetz',
  Json: 'json',
  JsonB: 'jsonb',
  ByteA: 'bytea',
};

export function parsePrismaSchema(source: string): Model[] {
  const enums = new Set([...source.matchAll(/^enum\s+(\w+)\s*\{/gm)].map((m) => m[1]!));
  const models: Model[] = [];
  for (const match of source.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const name = match[1]!;
    const body = match[2]!;
    const model: Model = { name, table: name, fields: [], primaryKey: [], uniques: [] };
    for (const rawLine of body.split('\n')) {
      const line = rawLine.replace(/\/\/.*$/, '').trim();
      if (line === '') {
        continue;
      }
      const block = /^@@(\w+)\((.*)\)$/.exec(line);
      if (block) {
        const [, attribute, args] = block;
        const columns =
          /\[([^\]]*)\]/
            .exec(args!)?.[1]
            ?.split(',')
            .map((c) => c.trim()) ?? [];
        if (attribute === 'map') {
          model.table = /"([^"]+)"/.exec(args!)![1]!;
        } else if (attribute === 'id') {
          model.primaryKey = columns;
        } else if (attribute === 'unique') {
          model.uniques.push(columns);
        }
        continue;
      }
      const field = /^(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(line);
      if (!field) {
        continue;
      }
      const [, fieldName, type, list, optional, attributes] = field;
      const relation = !SCALARS.has(type!) && !enums.has(type!);
      model.fields.push({
        name: fieldName!,
        column: /@map\("([^"]+)"\)/.exec(attributes!)?.[1] ?? fieldName!,
        type: enums.has(type!) ? 'Enum' : type!,
        optional: optional === '?',
        list: list === '[]',
        nativeType: /@db\.(\w+)/.exec(attributes!)?.[1],
        relation,
      });
      if (/@id\b/.test(attributes!)) {
        model.primaryKey = [fieldName!];
      }
      if (/@unique\b/.test(attributes!)) {
        model.uniques.push([fieldName!]);
      }
    }
    models.push(model);
  }
  return models;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  udt_name: string;
  is_nullable: 'YES' | 'NO';
}

export async function checkSchemaDrift(pool: Pool, schemaPath: string): Promise<string[]> {
  const models = parsePrismaSchema(await readFile(schemaPath, 'utf8'));
  const { rows: columns } = await pool.query<ColumnRow>(
    `SELECT table_name, column_name, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = current_schema()`,
  );
  const { rows: keys } = await pool.query<{ table_name: string; kind: string; columns: string[] }>(
    `SELECT t.relname AS table_name, CASE WHEN i.indisprimary THEN 'primary' ELSE 'unique' END AS kind,
            array_agg(a.attname::text ORDER BY k.ordinality) AS columns
     FROM pg_index i
     JOIN pg_class t ON t.oid = i.indrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
     WHERE i.indisunique
     GROUP BY t.relname, i.indexrelid, i.indisprimary`,
  );
  const problems: string[] = [];
  for (const model of models) {
    const tableColumns = columns.filter((c) => c.table_name === model.table);
    if (tableColumns.length === 0) {
      problems.push(`model ${model.name}: table "${model.table}" does not exist`);
      continue;
    }
    const scalarFields = model.fields.filter((f) => !f.relation);
    for (const field of scalarFields) {
      const column = tableColumns.find((c) => c.column_name === field.column);
      if (!column) {
        problems.push(`model ${model.name}: column "${model.table}.${field.column}" is missing`);
        continue;
      }
      // Enums and native types not listed here are not checked.
      const udt = field.nativeType ? NATIVE_COLUMN_TYPE[field.nativeType] : DEFAULT_COLUMN_TYPE[field.type];
      const expected = udt && field.list ? `_${udt}` : udt;
      if (expected && column.udt_name !== expected) {
        problems.push(
          `model ${model.name}: "${model.table}.${field.column}" is ${column.udt_name}, the schema says ${field.type}${field.list ? '[]' : ''}${field.nativeType ? ` @db.${field.nativeType}` : ''} (${expected})`,
        );
      }
      // Prisma's own migrations create scalar lists without NOT NULL; mirror that.
      const nullable = field.optional || field.list;
      if ((column.is_nullable === 'YES') !== nullable) {
        problems.push(
          `model ${model.name}: "${model.table}.${field.column}" is ${column.is_nullable === 'YES' ? 'nullable' : 'NOT NULL'}, the schema says ${nullable ? 'optional' : 'required'}`,
        );
      }
    }
    for (const column of tableColumns) {
      if (!scalarFields.some((f) => f.column === column.column_name)) {
        problems.push(
          `model ${model.name}: column "${model.table}.${column.column_name}" is not in the schema`,
        );
      }
    }
    const toColumns = (fields: string[]) =>
      fields.map((f) => model.fields.find((x) => x.name === f)?.column ?? f);
    const tableKeys = keys.filter((k) => k.table_name === model.table);
    const primary = tableKeys.find((k) => k.kind === 'primary');
    if (model.primaryKey.length > 0 && primary?.columns.join(',') !== toColumns(model.primaryKey).join(',')) {
      problems.push(
        `model ${model.name}: primary key is (${primary?.columns.join(', ') ?? 'none'}), the schema says (${toColumns(model.primaryKey).join(', ')})`,
      );
    }
    for (const unique of model.uniques) {
      const wanted = toColumns(unique).join(',');
      if (!tableKeys.some((k) => k.kind === 'unique' && k.columns.join(',') === wanted)) {
        problems.push(`model ${model.name}: no unique index on (${toColumns(unique).join(', ')})`);
      }
    }
  }
  return problems;
}
