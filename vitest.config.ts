import { defineConfig } from 'vitest/config';

// Two projects: "unit" is pure logic and runs anywhere; "kernel" needs root and
// creates its own network namespaces. Files run in forked processes (the default
// pool): in-process setns and native sockets are unsafe in worker threads.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: ['**/*.kernel.test.ts', 'node_modules/**', 'dist/**'],
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['**/*.kernel.test.ts'],
          exclude: ['node_modules/**', 'dist/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Real-kernel tests share the machine's conntrack and CPU; two at a time is
          // what 2 cores take without timing flakes.
          maxWorkers: 2,
        },
      },
    ],
  },
});
