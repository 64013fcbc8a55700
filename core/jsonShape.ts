// Limits on the shape of a parsed JSON value: how deep it nests and how many values it holds. The
// canonical JSON encoder recurses, and tuf-js copies what it reads: a value past these limits must
// be refused before either sees it. Pure: used by the HTTP layer and by the parsing workers.

export interface JsonShapeLimits {
  maxDepth: number;
  maxNodes: number;
}

export const DEFAULT_JSON_SHAPE: JsonShapeLimits = { maxDepth: 64, maxNodes: 1_000_000 };

export type JsonShapeProblem = { code: 'too_deep'; message: string } | { code: 'too_large'; message: string };

/**
 * The first limit `value` breaks, or null. Every value counts once (the root, each array element,
 * each object member), counted as its container is walked and checked at once: no container, not
 * even the last one walked, adds children unchecked.
 */
export function jsonShapeProblem(value: unknown, limits: JsonShapeLimits = DEFAULT_JSON_SHAPE): JsonShapeProblem | null {
  const tooLarge = (): JsonShapeProblem => ({ code: 'too_large', message: `JSON body has more than ${limits.maxNodes} values` });
  const tooDeep = (): JsonShapeProblem => ({ code: 'too_deep', message: `JSON body nested deeper than ${limits.maxDepth} levels` });
  let nodes = 1;
  if (nodes > limits.maxNodes) return tooLarge();
  if (typeof value !== 'object' || value === null) return null;
  if (limits.maxDepth < 1) return tooDeep();
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [container, depth] = stack.pop()!;
    const children: unknown[] = Array.isArray(container) ? container : Object.values(container);
    for (const child of children) {
      nodes += 1;
      if (nodes > limits.maxNodes) return tooLarge();
      if (typeof child === 'object' && child !== null) {
        if (depth + 1 > limits.maxDepth) return tooDeep();
        stack.push([child, depth + 1]);
      }
    }
  }
  return null;
}

/**
 * The same limits checked on JSON text, before it is parsed: JSON.parse of a hostile body (a
 * million nested arrays, a million numbers) costs hundreds of megabytes and seconds even when the
 * value is refused right after. Counts exactly what `jsonShapeProblem` counts for valid JSON (a
 * repeated key counts once per occurrence here); invalid text is left to JSON.parse to refuse.
 */
export function jsonTextShapeProblem(text: Uint8Array, limits: JsonShapeLimits = DEFAULT_JSON_SHAPE): JsonShapeProblem | null {
  let depth = 0;
  let nodes = 1;
  let inString = false;
  let escaped = false;
  let opened = false; // just after [ or {: the next token decides whether the container has a child
  if (nodes > limits.maxNodes) return { code: 'too_large', message: `JSON body has more than ${limits.maxNodes} values` };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c)
        escaped = true; // backslash
      else if (c === 0x22) inString = false; // quote
      continue;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (opened) {
      opened = false;
      if (c !== 0x5d && c !== 0x7d) nodes += 1; // a first child
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > limits.maxDepth) return { code: 'too_deep', message: `JSON body nested deeper than ${limits.maxDepth} levels` };
      opened = true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
    else if (c === 0x2c)
      nodes += 1; // a comma: one more child
    else continue;
    if (nodes > limits.maxNodes) return { code: 'too_large', message: `JSON body has more than ${limits.maxNodes} values` };
  }
  return null;
}
