import { describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BoundedMap } from '../../src/core/bounded-map.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('BoundedMap (every bounded cache: tokens, Backend API answers, Studio sessions and users, hosts)', () => {
  it('keeps at most its size, forgetting the entry set longest ago, over many evictions', () => {
    const map = new BoundedMap<number, string>(3);
    for (let i = 0; i < 1000; i++) map.set(i, `v${i}`);
    expect([...map.keys()]).toEqual([997, 998, 999]);
    expect(map.get(999)).toBe('v999');
    expect(map.has(996)).toBe(false);
  });

  it('makes a key set again the newest, and skips entries deleted in between', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1).set('b', 2).set('c', 3);
    map.set('a', 4); // a is now the newest: b goes first
    map.set('d', 5);
    expect([...map.entries()]).toEqual([['c', 3], ['a', 4], ['d', 5]]);
    map.delete('c');
    map.set('e', 6); // room left by the delete: nothing evicted
    expect([...map.keys()]).toEqual(['a', 'd', 'e']);
    map.set('f', 7);
    expect([...map.keys()]).toEqual(['d', 'e', 'f']);
  });

  it('starts over after clear()', () => {
    const map = new BoundedMap<number, number>(2);
    for (let i = 0; i < 5; i++) map.set(i, i);
    map.clear();
    expect(map.size).toBe(0);
    for (let i = 10; i < 15; i++) map.set(i, i);
    expect([...map.keys()]).toEqual([13, 14]);
  });

  it('holds no memory for entries it no longer has, full or not (a Map iterator keeps the tables V8 rebuilt)', () => {
    const below = new BoundedMap<number, number[]>(100_000);
    const full = new BoundedMap<number, number[]>(1_000);
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10_000; i++) below.set(i, new Array<number>(128).fill(i));
      for (let i = 0; i < 10_000; i++) below.delete(i);
      for (let i = 0; i < 10_000; i++) full.set(i, new Array<number>(128).fill(i));
      for (let i = 0; i < 600; i++) full.delete(9_000 + i);
    }
    below.set(-1, []);
    full.set(-1, []);
    collectGarbage();
    // What is left: 401 arrays of about 1 KiB. Tables kept alive with their old entries would hold tens of MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(4_000_000);
    expect(below.size).toBe(1);
    expect(full.size).toBe(401);
  });

  it('holds nothing it deleted once it was full and evicting, with no insert after', () => {
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const emptied = new BoundedMap<number, number[]>(2_000);
    for (let i = 0; i < 10_000; i++) emptied.set(i, new Array<number>(1024).fill(i));
    for (const key of [...emptied.keys()]) emptied.delete(key);
    collectGarbage();
    // About 8 KB a value: an iterator left on an old table would keep hundreds of them (megabytes).
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1_000_000);
    expect(emptied.size).toBe(0);
  });

  it('refuses a size that bounds nothing', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
    expect(() => new BoundedMap(1.5)).toThrow(RangeError);
  });
});

it('tells onEvict of each entry its bound pushes out, not of delete or clear', () => {
  const evicted: Array<[string, number]> = [];
  const map = new BoundedMap<string, number>(2, (key, value) => evicted.push([key, value]));
  map.set('a', 1).set('b', 2).set('c', 3);
  map.delete('b');
  map.set('d', 4).set('e', 5);
  map.clear();
  expect(evicted).toEqual([
    ['a', 1],
    ['c', 3],
  ]);
});
