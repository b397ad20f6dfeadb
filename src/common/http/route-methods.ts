import type { FastifyInstance } from 'fastify';

interface RouteEntry {
  pattern: RegExp;
  methods: Set<string>;
}

/** `/v1/admin/users/:clientId` → a RegExp matching concrete paths of that route. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * Which methods each route answers, so an unknown method on a known path is a
 * 405 with `Allow` (RFC 9110) rather than the router's 404.
 */
export class RouteMethods {
  private readonly routes = new Map<string, RouteEntry>();

  add(methods: string | string[], url: string): void {
    let entry = this.routes.get(url);
    if (entry === undefined) {
      entry = { pattern: patternOf(url), methods: new Set() };
      this.routes.set(url, entry);
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) {
      entry.methods.add(method.toUpperCase());
    }
  }

  /** Methods some route answers for this concrete path (empty when no route matches it). */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const entry of this.routes.values()) {
      if (entry.pattern.test(path)) {
        entry.methods.forEach((m) => methods.add(m));
      }
    }
    return [...methods].sort();
  }
}

const tables = new WeakMap<FastifyInstance, RouteMethods>();

/** Records every route the instance registers from now on. Call before the routes are registered. */
export function trackRouteMethods(fastify: FastifyInstance): void {
  const table = new RouteMethods();
  tables.set(fastify, table);
  fastify.addHook('onRoute', (route) => table.add(route.method, route.url));
}

export function allowedMethods(fastify: FastifyInstance, path: string): string[] {
  return tables.get(fastify)?.allowed(path) ?? [];
}
