/**
 * Device-shadow semantics, as AWS IoT's Device Shadow service documents them
 * ("Device Shadow service documents": delta state, arrays, empty properties, limits).
 * Pure functions: no I/O, shared by HTTP, MQTT and both storage drivers.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** AWS IoT's limit on a classic shadow's state (desired + reported, metadata excluded). */
export const MAX_STATE_DOCUMENT_BYTES = 8 * 1024;
/** AWS IoT refuses "JSON contains too many levels of nesting; maximum is 6" inside desired/reported. */
export const MAX_STATE_DEPTH = 6;

export interface StateSections {
  desired: JsonObject;
  reported: JsonObject;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 7386 JSON merge patch of an object: `null` removes a key, an object merges
 * recursively, anything else (arrays included: AWS replaces whole arrays) replaces.
 * Returns a new object; the inputs are not modified.
 */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const result: JsonObject = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else if (isJsonObject(value)) {
      const current = result[key];
      result[key] = mergePatch(isJsonObject(current) ? current : {}, value);
    } else {
      result[key] = value;
    }
  }
  return result;
}

/**
 * The delta, computed the way AWS IoT documents it: iterate over every field of
 * `desired` and compare it with `reported`. A field only in desired is in the
 * delta; a field only in reported is not; nested objects are compared key by
 * key and the delta keeps the path to the root; arrays (and every other value)
 * are compared as whole values, so a differing array is copied whole.
 * Returns undefined when nothing differs.
 */
export function computeDelta(desired: JsonObject, reported: JsonObject): JsonObject | undefined {
  let delta: JsonObject | undefined;
  for (const [key, want] of Object.entries(desired)) {
    const have = reported[key];
    let difference: JsonValue | undefined;
    if (isJsonObject(want) && isJsonObject(have)) {
      difference = computeDelta(want, have);
    } else if (have === undefined || !jsonEqual(want, have)) {
      difference = want;
    }
    if (difference !== undefined) {
      (delta ??= {})[key] = difference;
    }
  }
  return delta;
}

export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) {
    return true;
  }
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && jsonEqual(a[key], b[key]));
  }
  return false;
}

/** Bytes of the stored state, the figure the 8 KB limit applies to. */
export function stateDocumentBytes(state: StateSections): number {
  return Buffer.byteLength(JSON.stringify(state), 'utf8');
}

/**
 * Why a `desired`/`reported` patch can't be stored, or undefined if it can: AWS
 * refuses nulls inside arrays and more than six levels of nesting (the section's
 * own keys are level 1, `{"a":{"b":1}}` has two), and so do we, so a document
 * valid here is valid in AWS mode.
 */
export function sectionProblem(section: JsonObject, name: 'desired' | 'reported'): string | undefined {
  const walk = (value: JsonValue, level: number, path: string): string | undefined => {
    const entries: Array<[string, JsonValue]> = Array.isArray(value)
      ? value.map((item, i) => [`[${i}]`, item])
      : isJsonObject(value)
        ? Object.entries(value).map(([key, item]) => [`.${key}`, item])
        : [];
    for (const [step, item] of entries) {
      if (level + 1 > MAX_STATE_DEPTH) {
        return `${path}${step} is nested deeper than ${MAX_STATE_DEPTH} levels`;
      }
      if (item === null && Array.isArray(value)) {
        return `${path}${step} is null; arrays can't hold null values`;
      }
      const problem = walk(item, level + 1, `${path}${step}`);
      if (problem !== undefined) {
        return problem;
      }
    }
    return undefined;
  };
  return walk(section, 0, name);
}
