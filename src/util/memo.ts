/**
 * Values derived from immutable objects (key records, routes), made on first
 * use and forgotten with the object: a changed record or route is a new object,
 * so nothing is ever stale, and a request derives nothing twice.
 */
export function oncePerObject<K extends object, V>(make: (object: K) => V): (object: K) => V {
  const made = new WeakMap<K, V>();
  return (object) => {
    let value = made.get(object);
    if (value === undefined && !made.has(object)) {
      value = make(object);
      made.set(object, value);
    }
    return value as V;
  };
}
