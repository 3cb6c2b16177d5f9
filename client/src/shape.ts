// Runtime checks of the server's answers against the generated types. The types alone only
// say what the document promises; these check that the server keeps the promise. `object<T>`
// must list every member of T (the compiler enforces it), so when the document adds, renames
// or removes a member, the tour stops compiling until its checks follow.

export class ShapeError extends Error {}

export type Check<T> = (value: unknown, at: string) => T;

// Members the server sent that the document does not name. Allowed (clients ignore unknown
// members), but worth reporting: they are gaps in the document.
export const undocumented = new Set<string>();

function describe(value: unknown): string {
  if (value === undefined) return "nothing (the member is missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 60))}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

function fail(at: string, want: string, got: unknown): never {
  throw new ShapeError(`${at}: expected ${want}, got ${describe(got)}`);
}

export const string: Check<string> = (v, at) => (typeof v === "string" ? v : fail(at, "a string", v));

export const boolean: Check<boolean> = (v, at) => (typeof v === "boolean" ? v : fail(at, "a boolean", v));

export const number: Check<number> = (v, at) =>
  typeof v === "number" && Number.isFinite(v) ? v : fail(at, "a number", v);

export function integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Check<number> {
  return (v, at) =>
    typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : fail(at, `an integer in ${min}..${max}`, v);
}

/** The document's Id: an integer 1..2^53-1. */
export const id = integer(1, Number.MAX_SAFE_INTEGER);

/** The document's DateTime: RFC 3339 in UTC. */
export const dateTime: Check<string> = (v, at) =>
  typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v) && !Number.isNaN(Date.parse(v))
    ? v
    : fail(at, "an RFC 3339 UTC date-time", v);

export function oneOf<const L extends string>(...values: L[]): Check<L> {
  return (v, at) => ((values as unknown[]).includes(v) ? (v as L) : fail(at, `one of ${values.join(", ")}`, v));
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, at) => (v === null ? null : check(v, at));
}

/** A member the document does not require. */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (v, at) => (v === undefined ? undefined : check(v, at));
}

export function array<T>(item: Check<T>): Check<T[]> {
  return (v, at) => (Array.isArray(v) ? v.map((x, i) => item(x, `${at}[${i}]`)) : fail(at, "an array", v));
}

/** Every member of T, each with its check. */
export type Fields<T> = { [K in keyof Required<T>]: Check<T[K]> };

export function object<T>(name: string, fields: Fields<T>): Check<T> {
  return (v, at) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(at, `a ${name} object`, v);
    const record = v as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields) as [string, Check<unknown>][]) {
      check(record[key], `${at}.${key}`);
    }
    for (const key of Object.keys(record)) {
      if (!(key in fields)) undocumented.add(`${name}.${key}`);
    }
    return v as T;
  };
}
