import {
  buildASTSchema,
  getNamedType,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  Kind,
  parse,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type DocumentNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';

/**
 * What one schema element asks of a caller, every part of it required. `scopes` and `policies` hold one entry per
 * directive met: each entry is a list of alternatives (any one will do), and each alternative a list of scopes or
 * policies that must all hold, as `@requiresScopes(scopes: [["read", "write"], ["admin"]])` reads: read and write, or admin.
 */
export interface AccessRule {
  /** The element's coordinate (`Query.workflows`, `Secret`), for error messages. */
  coordinate: string;
  authenticated: boolean;
  scopes: readonly (readonly (readonly string[])[])[];
  policies: readonly (readonly (readonly string[])[])[];
}

/** The linked specs of the authorization directives: each is the spec's root directive, named after it. */
const SPECS = {
  authenticated: 'https://specs.apollo.dev/authenticated',
  requiresScopes: 'https://specs.apollo.dev/requiresScopes',
  policy: 'https://specs.apollo.dev/policy',
} as const;

type DirectiveNames = Partial<Record<keyof typeof SPECS, string>>;

/**
 * The names the authorization directives are applied under in a supergraph, as the link spec names a feature's root
 * directive: its import name if imported, else the link's `as`, else the spec's own name. A supergraph that links no
 * spec of them has none.
 */
function directiveNames(document: DocumentNode): DirectiveNames {
  const names: DirectiveNames = {};
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'link') continue;
      const argument = (name: string) => directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
      const url = argument('url');
      if (url?.kind !== Kind.STRING) continue;
      const identity = url.value.replace(/\/v\d+\.\d+\/?$/, '');
      for (const [element, spec] of Object.entries(SPECS) as [keyof typeof SPECS, string][]) {
        if (identity !== spec) continue;
        const as = argument('as');
        const imports = argument('import');
        const imported = (imports ? (valueFromASTUntyped(imports) as unknown[]) : []).find(
          (entry) => entry === `@${element}` || (typeof entry === 'object' && (entry as { name?: unknown })?.name === `@${element}`),
        );
        names[element] =
          typeof imported === 'object' && typeof (imported as { as?: unknown }).as === 'string'
            ? (imported as { as: string }).as.replace(/^@/, '')
            : imported
              ? element
              : as?.kind === Kind.STRING
                ? as.value
                : element;
      }
    }
  }
  return names;
}

/** A supergraph names a policy the gateway cannot decide: serving it would allow or refuse by accident. */
export class UnknownPolicyError extends Error {
  constructor(unknown: Map<string, string[]>, known: Iterable<string>) {
    const list = [...unknown].map(([policy, coordinates]) => `"${policy}" (on ${coordinates.join(', ')})`).join('; ');
    super(
      `The supergraph's @policy names policies this gateway does not know: ${list}. Known policies: ${[...known].join(', ') || 'none'}. ` +
        'Add them to the gateway (gateway/src/authorization/policies.ts) or remove them from the subgraph.',
    );
    this.name = 'UnknownPolicyError';
  }
}

const listOfLists = (directive: ConstDirectiveNode, argument: string): string[][] => {
  const node = directive.arguments?.find((candidate) => candidate.name.value === argument)?.value;
  const value: unknown = node ? valueFromASTUntyped(node) : [];
  // A single string, or a list of strings, coerces to the list type as GraphQL input coercion would.
  const outer = Array.isArray(value) ? value : [value];
  return outer.map((inner) => (Array.isArray(inner) ? inner : [inner]).filter((entry): entry is string => typeof entry === 'string'));
};

/**
 * The authorization directives of a supergraph (`@authenticated`, `@requiresScopes`, `@policy` on fields, objects,
 * scalars and enums; composition refuses them on interfaces and their fields), read once per supergraph, and what each
 * field and type of an operation requires.
 *
 * As Apollo Router reads them: a field requires its own directives and those of the type it returns; a field of an
 * interface also requires that field's directives on every implementation, and a field returning an interface or a
 * union the type directives of every possible type, since any of them may come back. A fragment on a type requires
 * that type's directives.
 */
export class AuthorizationRules {
  private readonly fieldRules = new Map<string, AccessRule | null>();
  private readonly typeRules = new Map<string, AccessRule | null>();

  private constructor(
    readonly schema: GraphQLSchema,
    private readonly names: DirectiveNames,
    /** Whether any element of the supergraph carries a directive: when none does, every operation is let through untouched. */
    readonly isEmpty: boolean,
  ) {}

  /** Reads a supergraph; throws {@link UnknownPolicyError} when it names a policy not in `knownPolicies`. */
  static read(supergraphSdl: string, knownPolicies: ReadonlySet<string>): AuthorizationRules {
    const document = parse(supergraphSdl);
    const names = directiveNames(document);
    const schema = buildASTSchema(document, { assumeValid: true, assumeValidSDL: true });
    const applied = new Set(Object.values(names));
    let isEmpty = true;
    const unknown = new Map<string, string[]>();
    const visit = (coordinate: string, directives: readonly ConstDirectiveNode[] | undefined) => {
      for (const directive of directives ?? []) {
        if (!applied.has(directive.name.value)) continue;
        isEmpty = false;
        if (directive.name.value !== names.policy) continue;
        for (const policy of listOfLists(directive, 'policies').flat())
          if (!knownPolicies.has(policy)) unknown.set(policy, [...(unknown.get(policy) ?? []), coordinate]);
      }
    };
    for (const type of Object.values(schema.getTypeMap())) {
      visit(type.name, type.astNode?.directives);
      if (isObjectType(type) || isInterfaceType(type)) {
        for (const field of Object.values(type.getFields())) visit(`${type.name}.${field.name}`, field.astNode?.directives);
      }
    }
    if (unknown.size > 0) throw new UnknownPolicyError(unknown, knownPolicies);
    return new AuthorizationRules(schema, names, isEmpty);
  }

  /** What selecting `field` on `parentType` requires; undefined when nothing. The same object every time for one field. */
  fieldRule(parentType: GraphQLCompositeType, field: GraphQLField<unknown, unknown>): AccessRule | undefined {
    const coordinate = `${parentType.name}.${field.name}`;
    let rule = this.fieldRules.get(coordinate);
    if (rule === undefined) {
      const parts = [this.ruleOf(coordinate, field.astNode?.directives)];
      if (isInterfaceType(parentType)) {
        for (const implementation of this.schema.getPossibleTypes(parentType)) {
          const implemented = implementation.getFields()[field.name];
          parts.push(this.ruleOf(coordinate, implemented?.astNode?.directives));
        }
      }
      parts.push(this.typeRule(getNamedType(field.type)));
      rule = combine(coordinate, parts) ?? null;
      this.fieldRules.set(coordinate, rule);
    }
    return rule ?? undefined;
  }

  /** What a value of `type` requires (a fragment on it, or a field returning it); undefined when nothing. */
  typeRule(type: GraphQLNamedType): AccessRule | undefined {
    let rule = this.typeRules.get(type.name);
    if (rule === undefined) {
      const parts = [this.ruleOf(type.name, type.astNode?.directives)];
      if (isAbstractType(type))
        for (const possible of this.schema.getPossibleTypes(type)) parts.push(this.ruleOf(type.name, possible.astNode?.directives));
      rule = combine(type.name, parts) ?? null;
      this.typeRules.set(type.name, rule);
    }
    return rule ?? undefined;
  }

  private ruleOf(coordinate: string, directives: readonly ConstDirectiveNode[] | undefined): AccessRule | undefined {
    let authenticated = false;
    const scopes: string[][][] = [];
    const policies: string[][][] = [];
    for (const directive of directives ?? []) {
      const name = directive.name.value;
      if (name === this.names.authenticated) authenticated = true;
      else if (name === this.names.requiresScopes) scopes.push(listOfLists(directive, 'scopes'));
      else if (name === this.names.policy) policies.push(listOfLists(directive, 'policies'));
    }
    return authenticated || scopes.length > 0 || policies.length > 0 ? { coordinate, authenticated, scopes, policies } : undefined;
  }
}

/** Every part required at once; undefined when no part requires anything. */
function combine(coordinate: string, parts: (AccessRule | undefined)[]): AccessRule | undefined {
  const present = parts.filter((part): part is AccessRule => part !== undefined);
  if (present.length === 0) return undefined;
  return {
    coordinate,
    authenticated: present.some((part) => part.authenticated),
    scopes: present.flatMap((part) => part.scopes),
    policies: present.flatMap((part) => part.policies),
  };
}
