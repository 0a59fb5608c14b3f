// A value built on its first use, and only then, even when it is undefined (an addon
// that is not installed is looked for once). The CNI plugin is spawned per pod: a zod
// schema or an addon that only some calls need costs the others nothing.
export function lazy<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
