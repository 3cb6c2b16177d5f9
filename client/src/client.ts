// The typed Rota client: openapi-fetch over the types openapi-typescript generates from
// shared/api/openapi.yaml (src/schema.d.ts, made by `npm run generate`). Nothing here is written
// by hand about routes or bodies: paths, parameters, request and response bodies all come from
// the document, so code that uses the API in a way the document does not allow fails to compile.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export type Schemas = components["schemas"];
export type RotaClient = Client<paths>;

export const DEFAULT_BASE_URL = "http://127.0.0.1:3000";

export interface RotaClientOptions {
  /** The API's origin; the document's paths have no stage or version segment. */
  baseUrl?: string;
  /** An access token (AuthResponse.access_token), sent as `Authorization: Bearer …`. */
  accessToken?: string;
  /** A custom fetch (tests, proxies). */
  fetch?: (input: Request) => Promise<Response>;
}

export function createRotaClient(options: RotaClientOptions = {}): RotaClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  if (options.accessToken !== undefined) {
    client.use(bearer(options.accessToken));
  }
  return client;
}

// The document declares the token as a security scheme, not as a header parameter, so the
// generated types have no place for it: a middleware adds it to every request.
function bearer(token: string): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  };
}
