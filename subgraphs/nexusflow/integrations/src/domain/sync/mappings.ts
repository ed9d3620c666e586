import { compileExpression, describeExpressionProblem, ExpressionError, type Expression } from '@nexusflow/kit';

export type MappingDirection = 'INBOUND' | 'OUTBOUND' | 'BOTH';
export type ConflictPolicy = 'NEWEST_WINS' | 'PROVIDER_WINS' | 'NEXUSFLOW_WINS' | 'HOLD';
/** The kinds of CRM record that sync, in the order a run syncs them: a deal's company is synced before the deal. */
export const CRM_OBJECT_TYPES = ['CONTACT', 'COMPANY', 'DEAL'] as const;
export type CrmObjectType = (typeof CRM_OBJECT_TYPES)[number];

/** One field carried between a CRM record's properties (`source`) and a NexusFlow record's fields (`target`). */
export interface FieldMappingEntry {
  source: string;
  target: string;
  /** JSONata; its input is the record on the side the value comes from. */
  transform: string | null;
  defaultValue: string | null;
  direction: MappingDirection;
}

export interface MappingProblem {
  index: number;
  field: 'source' | 'target' | 'transform' | 'direction';
  message: string;
}

/** How NexusFlow keeps a field's value: text as given, a decimal number (as a string), or a calendar date (YYYY-MM-DD). */
export type FieldKind = 'TEXT' | 'DECIMAL' | 'DATE';

/** NexusFlow's fields of each kind of record, and how each is kept; `custom.<name>` targets go into its custom fields. */
export const NEXUSFLOW_FIELDS = {
  CONTACT: { email: 'TEXT', firstName: 'TEXT', lastName: 'TEXT', phone: 'TEXT', company: 'TEXT' },
  COMPANY: { name: 'TEXT', domain: 'TEXT', industry: 'TEXT', phone: 'TEXT' },
  DEAL: { name: 'TEXT', amount: 'DECIMAL', currency: 'TEXT', stage: 'TEXT', closeDate: 'DATE' },
} as const satisfies Record<CrmObjectType, Record<string, FieldKind>>;

export const CONTACT_FIELDS = Object.keys(NEXUSFLOW_FIELDS.CONTACT) as (keyof typeof NEXUSFLOW_FIELDS.CONTACT)[];
export type ContactField = keyof typeof NEXUSFLOW_FIELDS.CONTACT;
const CUSTOM_TARGET = /^custom\.[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A mapping carrying a field as it is, both ways: most of a CRM's defaults. */
export const plainMapping = (source: string, target: string): FieldMappingEntry => ({
  source,
  target,
  transform: null,
  defaultValue: null,
  direction: 'BOTH',
});

export const DEFAULT_CONFLICT_POLICY: ConflictPolicy = 'NEWEST_WINS';

const fieldsOf = (objectType: CrmObjectType): Readonly<Record<string, FieldKind>> => NEXUSFLOW_FIELDS[objectType];
const isNexusflowField = (objectType: CrmObjectType, target: string) =>
  Object.hasOwn(fieldsOf(objectType), target) || CUSTOM_TARGET.test(target);

/**
 * Everything wrong with `mappings`, against the CRM's fields as it lists them and NexusFlow's: unknown fields, a
 * transform that does not compile, a transform on a BOTH mapping (a transform cannot be carried back), and two
 * mappings writing one field in the same direction.
 */
export function validateMappings(
  objectType: CrmObjectType,
  mappings: readonly FieldMappingEntry[],
  providerFields: ReadonlySet<string>,
): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const written = new Map<string, number>();
  mappings.forEach((mapping, index) => {
    if (!providerFields.has(mapping.source)) {
      problems.push({ index, field: 'source', message: `The CRM has no field "${mapping.source}"` });
    }
    if (!isNexusflowField(objectType, mapping.target)) {
      problems.push({
        index,
        field: 'target',
        message: `NexusFlow has no field "${mapping.target}" on a ${objectType.toLowerCase()}: use ${Object.keys(fieldsOf(objectType)).join(', ')} or custom.<name>`,
      });
    }
    if (mapping.transform !== null) {
      const compiled = compileExpression(mapping.transform);
      if (!compiled.ok) problems.push({ index, field: 'transform', message: describeExpressionProblem(compiled.problem) });
      if (mapping.direction === 'BOTH') {
        problems.push({ index, field: 'direction', message: 'A transform works one way: make the mapping INBOUND or OUTBOUND' });
      }
    }
    for (const [side, field] of [
      ['in', mapping.target],
      ['out', mapping.source],
    ] as const) {
      if ((side === 'in' && mapping.direction === 'OUTBOUND') || (side === 'out' && mapping.direction === 'INBOUND')) continue;
      const key = `${side}:${field}`;
      const earlier = written.get(key);
      if (earlier !== undefined) {
        problems.push({ index, field: side === 'in' ? 'target' : 'source', message: `Mapping ${earlier} writes "${field}" too` });
      } else {
        written.set(key, index);
      }
    }
  });
  return problems;
}

/** A NexusFlow record's fields (a contact's, a company's, a deal's), as mappings read and write them. */
export interface RecordValues {
  custom: Record<string, unknown>;
}

interface CompiledMapping extends FieldMappingEntry {
  expression: Expression | null;
}

const isEmpty = (value: unknown) => value === undefined || value === null || value === '';

/** A transform that failed on a record: the sync stops with its words rather than carry a wrong value. */
export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

/** A record as a transform sees it: empty fields absent, as JSONata expects of missing data. */
const presentOnly = (record: object) => Object.fromEntries(Object.entries(record).filter(([, value]) => !isEmpty(value)));

async function evaluate(mapping: CompiledMapping, record: object): Promise<unknown> {
  try {
    return await mapping.expression!.evaluate(presentOnly(record));
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    throw new MappingError(`The transform of ${mapping.source} → ${mapping.target} failed: ${error.message}`);
  }
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A value as NexusFlow keeps a field of its kind, one spelling per value ("1500.00" and "1500" are one amount; a
 * CRM's midnight timestamp and its date are one close date), so that values compare equal across the two sides.
 */
export function normalizeValue(kind: FieldKind, target: string, value: unknown): unknown {
  if (isEmpty(value) || kind === 'TEXT') return value;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : null;
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  if (kind === 'DECIMAL') {
    if (text === null || !DECIMAL.test(text)) throw new MappingError(`"${shown}" is not a number, for ${target}`);
    const [whole = '', fraction = ''] = text.replace(/^[+-]/, '').split('.');
    const integer = whole.replace(/^0+(?=\d)/, '') || '0';
    const digits = fraction.replace(/0+$/, '');
    const magnitude = digits ? `${integer}.${digits}` : integer;
    return magnitude === '0' || !text.startsWith('-') ? magnitude : `-${magnitude}`;
  }
  if (text !== null && DATE_ONLY.test(text)) return text;
  const date = text === null ? null : new Date(/^\d+$/.test(text) ? Number(text) : text);
  if (date === null || Number.isNaN(date.getTime())) throw new MappingError(`"${shown}" is not a date, for ${target}`);
  return date.toISOString().slice(0, 10);
}

/** Mappings of one kind of record, compiled once per sync, applied to each record. */
export class MappingPlan {
  private readonly compiled: CompiledMapping[];
  private readonly kinds: Readonly<Record<string, FieldKind>>;

  constructor(objectType: CrmObjectType, mappings: readonly FieldMappingEntry[]) {
    this.kinds = fieldsOf(objectType);
    this.compiled = mappings.map((mapping) => {
      if (mapping.transform === null) return { ...mapping, expression: null };
      const compiled = compileExpression(mapping.transform);
      if (!compiled.ok) throw new Error(`a saved transform does not compile: ${describeExpressionProblem(compiled.problem)}`);
      return { ...mapping, expression: compiled.expression };
    });
  }

  /** The CRM record's values of the inbound mappings, by NexusFlow's field names (`custom.x` as such), normalized. */
  async inbound(properties: Readonly<Record<string, string | null>>): Promise<Record<string, unknown>> {
    const values: Record<string, unknown> = {};
    for (const mapping of this.compiled) {
      if (mapping.direction === 'OUTBOUND') continue;
      let value: unknown = mapping.expression ? await evaluate(mapping, properties) : properties[mapping.source];
      if (isEmpty(value)) value = mapping.defaultValue;
      const kind = Object.hasOwn(this.kinds, mapping.target) ? this.kinds[mapping.target]! : 'TEXT';
      values[mapping.target] = normalizeValue(kind, mapping.target, value) ?? null;
    }
    return values;
  }

  /** The NexusFlow record's values of the outbound mappings, as the CRM's properties (strings, as CRMs take them). */
  async outbound(record: RecordValues): Promise<Record<string, string>> {
    const properties: Record<string, string> = {};
    for (const mapping of this.compiled) {
      if (mapping.direction === 'INBOUND') continue;
      let value: unknown = mapping.expression ? await evaluate(mapping, record) : readField(record, mapping.target);
      if (isEmpty(value)) value = mapping.defaultValue;
      properties[mapping.source] = isEmpty(value) ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    }
    return properties;
  }

  /** NexusFlow's values of the fields the inbound mappings write, to compare with {@link inbound}'s. */
  localValues(record: RecordValues): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const mapping of this.compiled)
      if (mapping.direction !== 'OUTBOUND') values[mapping.target] = readField(record, mapping.target) ?? null;
    return values;
  }
}

export function readField(record: RecordValues, target: string): unknown {
  if (target.startsWith('custom.')) return record.custom[target.slice('custom.'.length)];
  return (record as unknown as Record<string, unknown>)[target];
}

/** Writes inbound values (as {@link MappingPlan.inbound} gives them) into a record. */
export function writeFields(record: RecordValues, values: Readonly<Record<string, unknown>>): void {
  for (const [target, value] of Object.entries(values)) {
    if (target.startsWith('custom.')) {
      record.custom = { ...record.custom, [target.slice('custom.'.length)]: value };
    } else {
      (record as unknown as Record<string, unknown>)[target] = isEmpty(value)
        ? null
        : typeof value === 'string'
          ? value
          : JSON.stringify(value);
    }
  }
}
