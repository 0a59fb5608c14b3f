import { describe, expect, it } from 'vitest';
import { namespaceType } from './netns.ts';

const mountinfo = [
  '25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '69 68 0:4 net:[4026532174] /run/netns/pod-a rw shared:2 - nsfs nsfs rw',
  '70 68 0:4 uts:[4026532300] /run/uts/x rw shared:2 - nsfs nsfs rw',
].join('\n');

describe('namespaceType', () => {
  it('reads the type of a bind-mounted namespace from the root of its mount', () => {
    expect(namespaceType('/nonexistent/pod-a', 4026532174, () => mountinfo)).toBe('net');
    expect(namespaceType('/nonexistent/x', 4026532300, () => mountinfo)).toBe('uts');
    expect(namespaceType('/nonexistent/y', 1, () => mountinfo)).toBeUndefined();
  });
  it('reads the type of a /proc/<pid>/ns link from its text', () => {
    expect(namespaceType(`/proc/${process.pid}/ns/mnt`, 0, () => '')).toBe('mnt');
    expect(namespaceType('/proc/self/ns/net', 0, () => '')).toBe('net');
  });
});
