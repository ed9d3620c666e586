/**
 * Records that hold response data keyed by names the client chose: aliases may be `__proto__`, `constructor` or
 * `toString`, so nothing may be inherited and every name must land as an own property. `Object.create(null)` gives
 * that, but V8 keeps such objects in dictionary mode, where filling them is slower and `JSON.stringify` takes about
 * three times as long (measured on the deep benchmark query's shape). An instance of a constructor whose prototype
 * is itself a null-prototype object inherits nothing either, and keeps fast properties with shared hidden classes.
 */
const ResponseRecord = function ResponseRecord() {} as unknown as { new (): object; prototype: object };
// Frozen: a write to the shared prototype would reach every record.
ResponseRecord.prototype = Object.freeze(Object.create(null) as object);

export function emptyRecord<T extends object = Record<string, unknown>>(): T {
  return new ResponseRecord() as T;
}
