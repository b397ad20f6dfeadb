import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';

/** The portal's files (plain ES modules and one CSS file, no build step), at the repository root. */
export const PORTAL_ROOT = join(__dirname, '..', '..', 'portal');

/** Where the page is served. `/portal` redirects here so the page's relative URLs resolve. */
export const PORTAL_PREFIX = '/portal/';

/**
 * Same-origin only, no inline script or style: the page is plain files, the API
 * is this origin, the live feed is MQTT over WebSocket (`ws:`/`wss:`, on this
 * origin for the embedded broker; another host when MQTT_WS_PUBLIC_URL says so).
 */
export const PORTAL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface PortalPluginOptions {
  root: string;
  mqttBundleDir: string;
}

/**
 * The portal as an encapsulated Fastify plugin: its headers apply to its own
 * routes only, and Nest never sees these routes, so they need no JWT (the page
 * asks for the admin token itself) and stay out of the OpenAPI document.
 */
export const portalPlugin: FastifyPluginAsync<PortalPluginOptions> = async (instance, options) => {
  instance.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('Content-Security-Policy', PORTAL_CSP);
    void reply.header('X-Content-Type-Options', 'nosniff');
    void reply.header('Referrer-Policy', 'no-referrer');
    void reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    return payload;
  });
  // prefix without its slash + redirect: @fastify/static answers /portal with a 301 to /portal/.
  await instance.register(fastifyStatic, {
    root: options.root,
    prefix: PORTAL_PREFIX.slice(0, -1),
    redirect: true,
    index: ['index.html'],
    // Plain files edited in place: always revalidate (ETag), never serve a stale page after an upgrade.
    cacheControl: true,
    maxAge: 0,
    dotfiles: 'deny',
  });
  // mqtt.js's browser bundle from the installed package: same version as the server's, no CDN.
  instance.get(`${PORTAL_PREFIX}vendor/mqtt.min.js`, (_request, reply) => reply.sendFile('mqtt.min.js', options.mqttBundleDir));
};

/** Serves the admin portal at /portal (see docs/portal.md). */
@Module({})
export class PortalSiteModule implements OnModuleInit {
  private readonly logger = new Logger(PortalSiteModule.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const mqttBundleDir = join(dirname(require.resolve('mqtt/package.json')), 'dist');
    if (!existsSync(join(PORTAL_ROOT, 'index.html')) || !existsSync(join(mqttBundleDir, 'mqtt.min.js'))) {
      // An image built without the portal's files still serves the API.
      this.logger.warn({ root: PORTAL_ROOT }, 'portal files not found; /portal is not served');
      return;
    }
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // Queued, not awaited: awaiting would load Fastify's plugin queue now, and every route already
    // declared would keep Fastify's default error handler instead of the one Nest installs later in
    // init (then parse errors would leave as plain JSON rather than problem+json). Fastify loads it
    // with the rest at ready(); an error there fails the start.
    void fastify.register(portalPlugin, { root: PORTAL_ROOT, mqttBundleDir });
  }
}
