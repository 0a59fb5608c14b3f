import { describe, expect, it } from 'vitest';
import { age, wantsTable } from './table.ts';

describe('Table replies', () => {
  it('are wanted only for meta.k8s.io/v1 Tables', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toBe(false);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });

  it('print ages as kubectl does', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    const ago = (s: number) => new Date(now - s * 1000).toISOString();
    expect([ago(5), ago(150), ago(300), ago(3000), ago(5 * 3600), ago(3 * 86400)].map((t) => age(t, now))).toEqual(['5s', '2m30s', '5m', '50m', '5h', '3d']);
    expect(age(undefined, now)).toBe('<unknown>');
  });
});
