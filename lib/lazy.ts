// A value built on its first use. The CNI plugin is spawned per pod: a zod schema that
// only some calls need (a prevResult's, a sticky record's) costs the others nothing.
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}
