import { compileExpression, describeExpressionProblem, ExpressionError, type Expression } from '@nexusflow/kit';

export type MappingDirection = 'INBOUND' | 'OUTBOUND' | 'BOTH';
export type ConflictPolicy = 'NEWEST_WINS' | 'PROVIDER_WINS' | 'NEXUSFLOW_WINS' | 'HOLD';
export type CrmObjectType = 'CONTACT';

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

/** NexusFlow's fields of a contact; `custom.<name>` targets go into its custom fields. */
export const CONTACT_FIELDS = ['email', 'firstName', 'lastName', 'phone', 'company'] as const;
export type ContactField = (typeof CONTACT_FIELDS)[number];
const CUSTOM_TARGET = /^custom\.[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** What syncs when a tenant saved nothing: the standard fields, both ways, the side changed last winning. */
export const DEFAULT_CONTACT_MAPPINGS: readonly FieldMappingEntry[] = [
  { source: 'email', target: 'email', transform: null, defaultValue: null, direction: 'BOTH' },
  { source: 'firstname', target: 'firstName', transform: null, defaultValue: null, direction: 'BOTH' },
  { source: 'lastname', target: 'lastName', transform: null, defaultValue: null, direction: 'BOTH' },
  { source: 'phone', target: 'phone', transform: null, defaultValue: null, direction: 'BOTH' },
  { source: 'company', target: 'company', transform: null, defaultValue: null, direction: 'BOTH' },
];
export const DEFAULT_CONFLICT_POLICY: ConflictPolicy = 'NEWEST_WINS';

const isNexusflowField = (target: string) => (CONTACT_FIELDS as readonly string[]).includes(target) || CUSTOM_TARGET.test(target);

/**
 * Everything wrong with `mappings`, against the CRM's fields as it lists them and NexusFlow's: unknown fields, a
 * transform that does not compile, a transform on a BOTH mapping (a transform cannot be carried back), and two
 * mappings writing one field in the same direction.
 */
export function validateMappings(mappings: readonly FieldMappingEntry[], providerFields: ReadonlySet<string>): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const written = new Map<string, number>();
  mappings.forEach((mapping, index) => {
    if (!providerFields.has(mapping.source)) {
      problems.push({ index, field: 'source', message: `The CRM has no field "${mapping.source}"` });
    }
    if (!isNexusflowField(mapping.target)) {
      problems.push({
        index,
        field: 'target',
        message: `NexusFlow has no field "${mapping.target}": use ${CONTACT_FIELDS.join(', ')} or custom.<name>`,
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

/** A NexusFlow contact's fields, as mappings read and write them. */
export interface ContactValues {
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
  company?: string | null;
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

/** Mappings compiled once per sync, applied to each record. */
export class MappingPlan {
  private readonly compiled: CompiledMapping[];

  constructor(mappings: readonly FieldMappingEntry[]) {
    this.compiled = mappings.map((mapping) => {
      if (mapping.transform === null) return { ...mapping, expression: null };
      const compiled = compileExpression(mapping.transform);
      if (!compiled.ok) throw new Error(`a saved transform does not compile: ${describeExpressionProblem(compiled.problem)}`);
      return { ...mapping, expression: compiled.expression };
    });
  }

  /** The CRM record's values of the inbound mappings, by NexusFlow's field names (`custom.x` as such). */
  async inbound(properties: Readonly<Record<string, string | null>>): Promise<Record<string, unknown>> {
    const values: Record<string, unknown> = {};
    for (const mapping of this.compiled) {
      if (mapping.direction === 'OUTBOUND') continue;
      let value: unknown = mapping.expression ? await evaluate(mapping, properties) : properties[mapping.source];
      if (isEmpty(value)) value = mapping.defaultValue;
      values[mapping.target] = value ?? null;
    }
    return values;
  }

  /** The NexusFlow contact's values of the outbound mappings, as the CRM's properties (strings, as HubSpot takes them). */
  async outbound(contact: ContactValues): Promise<Record<string, string>> {
    const properties: Record<string, string> = {};
    for (const mapping of this.compiled) {
      if (mapping.direction === 'INBOUND') continue;
      let value: unknown = mapping.expression ? await evaluate(mapping, contact) : readField(contact, mapping.target);
      if (isEmpty(value)) value = mapping.defaultValue;
      properties[mapping.source] = isEmpty(value) ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    }
    return properties;
  }

  /** NexusFlow's values of the fields the inbound mappings write, to compare with {@link inbound}'s. */
  localValues(contact: ContactValues): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const mapping of this.compiled)
      if (mapping.direction !== 'OUTBOUND') values[mapping.target] = readField(contact, mapping.target) ?? null;
    return values;
  }
}

export function readField(contact: ContactValues, target: string): unknown {
  if (target.startsWith('custom.')) return contact.custom[target.slice('custom.'.length)];
  return contact[target as ContactField];
}

/** Writes inbound values (as {@link MappingPlan.inbound} gives them) into a contact. */
export function writeFields(contact: ContactValues, values: Readonly<Record<string, unknown>>): void {
  for (const [target, value] of Object.entries(values)) {
    if (target.startsWith('custom.')) {
      contact.custom = { ...contact.custom, [target.slice('custom.'.length)]: value };
    } else {
      contact[target as ContactField] = isEmpty(value) ? null : typeof value === 'string' ? value : JSON.stringify(value);
    }
  }
}
