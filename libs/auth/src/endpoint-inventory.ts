import type { INestApplicationContext } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';

import { ACCESS_KEY } from './access.decorator';
import type { Audience } from './domain/access';

export interface EndpointAccess {
  method: string;
  path: string;
  audiences: Audience[];
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'ALL', 'OPTIONS', 'HEAD', 'SEARCH'];

/**
 * Every HTTP endpoint of an application with who may call it, read from the same metadata the
 * AccessGuard reads (admins only where nothing is declared): for the access table in the docs and
 * for the test that calls each endpoint with the wrong credentials.
 */
export function endpointInventory(app: INestApplicationContext): EndpointAccess[] {
  const endpoints: EndpointAccess[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!type) {
        continue;
      }
      const base = (Reflect.getMetadata(PATH_METADATA, type) as string | undefined) ?? '';
      const classAudiences = Reflect.getMetadata(ACCESS_KEY, type) as Audience[] | undefined;
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') {
          continue;
        }
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as number | undefined;
        if (path === undefined || method === undefined) {
          continue;
        }
        const audiences = (Reflect.getMetadata(ACCESS_KEY, handler) as Audience[] | undefined) ??
          classAudiences ?? ['admin'];
        endpoints.push({ method: METHODS[method]!, path: joinPath(base, path), audiences });
      }
    }
  }
  return endpoints.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

function joinPath(base: string, path: string): string {
  const joined = `/${[base, path]
    .map((p) => p.replace(/^\/|\/$/g, ''))
    .filter(Boolean)
    .join('/')}`;
  return joined;
}

/** The inventory as a Markdown table (docs/access.md holds one per service). */
export function renderAccessTable(endpoints: readonly EndpointAccess[]): string {
  const rows = endpoints.map((e) => `| ${e.method} | \`${e.path}\` | ${e.audiences.join(', ')} |`);
  return ['| method | path | who may call it |', '| --- | --- | --- |', ...rows].join('\n');
}
