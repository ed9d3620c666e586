/** The names one subgraph's files use, all derived from its service name (and its entity's, when given). */
export interface ScaffoldNames {
  graph: string;
  /** The service, in kebab case: `example`, `content-delivery`. */
  service: string;
  /** `Example`, `ContentDelivery`: the prefix of its types (`ExampleConfig`, `ExampleContext`). */
  servicePascal: string;
  /** `example`, `contentDelivery`. */
  serviceCamel: string;
  /** The one entity it starts with: `Example`, `Asset`. */
  entity: string;
  /** `example`, `asset`: its singular query and the entity file's name (kebab). */
  entityCamel: string;
  entityKebab: string;
  /** `examples`: its list query. */
  entityPlural: string;
  /** `examples`: its table. */
  table: string;
}

export const SERVICE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
export const ENTITY_NAME = /^[A-Z][A-Za-z0-9]*$/;

const words = (kebab: string) => kebab.split('-');
const capitalise = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
const pascal = (kebab: string) => words(kebab).map(capitalise).join('');
const camel = (kebab: string) => {
  const value = pascal(kebab);
  return value.charAt(0).toLowerCase() + value.slice(1);
};
const kebabOfPascal = (value: string) => value.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
const plural = (word: string) =>
  /(s|x|ch|sh)$/.test(word) ? `${word}es` : /[^aeiou]y$/.test(word) ? `${word.slice(0, -1)}ies` : `${word}s`;

/** `content-delivery` with no entity named: entity `ContentDelivery`; a service named in the plural (`payments`) gets `Payment`. */
export function scaffoldNames(graph: string, service: string, entity?: string): ScaffoldNames {
  const entityName = entity ?? pascal(service.endsWith('s') && !service.endsWith('ss') ? service.slice(0, -1) : service);
  const entityKebab = kebabOfPascal(entityName);
  const entityCamel = camel(entityKebab);
  return {
    graph,
    service,
    servicePascal: pascal(service),
    serviceCamel: camel(service),
    entity: entityName,
    entityCamel,
    entityKebab,
    entityPlural: plural(entityCamel),
    table: plural(entityKebab).replaceAll('-', '_'),
  };
}
