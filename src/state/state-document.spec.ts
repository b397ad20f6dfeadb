import { computeDelta, jsonEqual, mergePatch, sectionProblem, stateDocumentBytes } from './state-document';

describe('mergePatch (RFC 7386)', () => {
  it('adds, replaces and removes keys (null removes), recursively', () => {
    const target = { a: 1, b: { c: 2, d: 3 }, e: 'x' };

    expect(mergePatch(target, { a: 2, b: { c: null, f: 4 }, e: null, g: true })).toEqual({ a: 2, b: { d: 3, f: 4 }, g: true });
    // the input is untouched
    expect(target).toEqual({ a: 1, b: { c: 2, d: 3 }, e: 'x' });
  });

  it('replaces arrays whole (AWS: "an update to an array replaces the whole array") and objects over scalars', () => {
    expect(mergePatch({ colors: ['RED', 'GREEN', 'BLUE'] }, { colors: ['RED'] })).toEqual({ colors: ['RED'] });
    expect(mergePatch({ a: 1 }, { a: { b: 2 } })).toEqual({ a: { b: 2 } });
    expect(mergePatch({ a: { b: 2 } }, { a: 3 })).toEqual({ a: 3 });
  });

  it('drops nulls inside a new nested object (RFC 7386 example)', () => {
    expect(mergePatch({}, { a: { b: null, c: 1 } })).toEqual({ a: { c: 1 } });
  });
});

describe('computeDelta (AWS IoT "Delta state")', () => {
  it('AWS example: fields only in desired are in, fields only in reported are not', () => {
    expect(computeDelta({ color: 'RED', state: 'STOP' }, { color: 'GREEN', engine: 'ON' })).toEqual({ color: 'RED', state: 'STOP' });
  });

  it('AWS example: nested objects differ key by key, the path to the root kept', () => {
    const desired = { lights: { color: { r: 255, g: 255, b: 255 } } };
    const reported = { lights: { color: { r: 255, g: 0, b: 255 } } };

    expect(computeDelta(desired, reported)).toEqual({ lights: { color: { g: 255 } } });
  });

  it('copies a differing array whole; equal arrays give no delta', () => {
    expect(computeDelta({ seq: ['RED', 'GREEN'] }, { seq: ['RED'] })).toEqual({ seq: ['RED', 'GREEN'] });
    expect(computeDelta({ seq: [{ a: 1 }] }, { seq: [{ a: 1 }] })).toBeUndefined();
  });

  it('is undefined when reported has everything desired has', () => {
    expect(computeDelta({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 2, d: 3 }, e: 4 })).toBeUndefined();
    expect(computeDelta({}, { a: 1 })).toBeUndefined();
  });

  it('an object wanted where a scalar is reported is copied whole', () => {
    expect(computeDelta({ a: { b: 1 } }, { a: 1 })).toEqual({ a: { b: 1 } });
    expect(computeDelta({ a: 1 }, { a: '1' })).toEqual({ a: 1 });
  });
});

describe('jsonEqual', () => {
  it('compares objects regardless of key order, arrays in order', () => {
    expect(jsonEqual({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
  });
});

describe('sectionProblem (AWS limits)', () => {
  it('refuses null inside arrays', () => {
    expect(sectionProblem({ colors: [null, 'RED'] }, 'desired')).toMatch(/desired\.colors\[0\] is null/);
  });

  it('allows six levels of nesting and refuses seven', () => {
    const six = { l1: { l2: { l3: { l4: { l5: { l6: 1 } } } } } };
    const seven = { l1: { l2: { l3: { l4: { l5: { l6: { l7: 1 } } } } } } };

    expect(sectionProblem(six, 'reported')).toBeUndefined();
    expect(sectionProblem(seven, 'reported')).toMatch(/deeper than 6/);
    expect(sectionProblem({ a: [[[[[1]]]]] }, 'reported')).toBeUndefined();
    expect(sectionProblem({ a: [[[[[[1]]]]]] }, 'reported')).toMatch(/deeper than 6/);
  });
});

describe('stateDocumentBytes', () => {
  it('counts UTF-8 bytes of the stored state', () => {
    expect(stateDocumentBytes({ desired: {}, reported: { n: 'é' } })).toBe(Buffer.byteLength('{"desired":{},"reported":{"n":"é"}}'));
  });
});
