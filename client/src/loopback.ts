// A fetch that sends from a random 127/8 address, for a stack on this machine. The gateway
// takes the TCP peer as the client IP, and registration is limited per IP (20 an hour): from a
// fresh address each run, repeated tours never use up 127.0.0.1's allowance (or anyone else's).
// The Rust tests do the same (tests/support/http.rs, random_ip). Global fetch cannot choose its
// source address, so this speaks HTTP/1.1 through node:http.
import { request } from "node:http";
import { randomInt } from "node:crypto";

export function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

export function fetchFrom(localAddress: string): (input: Request) => Promise<Response> {
  return async (input) => {
    const body = input.body ? Buffer.from(await input.arrayBuffer()) : undefined;
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        input.url,
        { method: input.method, headers: Object.fromEntries(input.headers), localAddress },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
                headers.append(name, v);
              }
            }
            const status = res.statusCode ?? 0;
            // A Response with a null-body status (204, 304) must be built without a body.
            const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(payload, { status, statusText: res.statusMessage ?? "", headers }));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  };
}
