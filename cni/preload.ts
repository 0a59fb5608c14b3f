// What the single executable's V8 startup snapshot holds besides the dispatcher: the
// CNI and IPAM plugins' modules, initialised (zod schemas built, code compiled) at build
// time, so that a plugin call, one process per pod, deserialises them instead of
// running them. Nothing here touches the environment, the kernel or the disk.
export async function preload(): Promise<void> {
  await Promise.all([
    import('./main.ts'), import('./ipam-plugin.ts'),
    import('./add.ts'), import('./del.ts'), import('./check.ts'), import('./status.ts'), import('./gc.ts'), import('../ipam/index.ts'),
  ]);
}
