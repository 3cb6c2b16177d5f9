// The end-to-end tour: a new account registers, posts, likes its post, finds it in the "new"
// feed, and creates a roadmap for a goal of the catalog, through the generated client only.
// It proves the document twice: the compiler checks every call against the generated types,
// and each step checks at run time that the server's answer has the shape those types claim.
// Usage: ROTA_BASE_URL=http://127.0.0.1:3000 node dist/tour.js (scripts/client-check.sh).
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Middleware } from "openapi-fetch";
import { createRotaClient, DEFAULT_BASE_URL, type RotaClient, type Schemas } from "./client.js";
import { fetchFrom, randomLoopback } from "./loopback.js";
import * as s from "./shape.js";

class TourError extends Error {}

// ---- the shapes the tour reads, member by member (see shape.ts) ----

const author = s.object<Schemas["PostAuthor"]>("PostAuthor", { id: s.id, display_name: s.string });

const user = s.object<Schemas["User"]>("User", {
  id: s.id,
  email: s.string,
  display_name: s.string,
  role: s.oneOf("member", "admin"),
  created_at: s.dateTime,
});

const meShape = s.object<Schemas["Me"]>("Me", {
  id: s.id,
  email: s.string,
  display_name: s.string,
  role: s.oneOf("member", "admin"),
  created_at: s.dateTime,
  reminder_enabled: s.boolean,
  reminder_hour: s.integer(0, 23),
  // Any of the document's ~600 zone names: a string is as much as the tour checks.
  timezone: (v, at) => s.string(v, at) as Schemas["TimeZone"],
  locale: s.oneOf<Schemas["Locale"]>("en", "tr"),
  email_reminders: s.boolean,
});

const authResponse = s.object<Schemas["AuthResponse"]>("AuthResponse", {
  access_token: s.string,
  refresh_token: s.string,
  token_type: s.oneOf("Bearer"),
  expires_in: s.integer(1),
  user,
  device_token: s.optional(s.string),
});

const post = s.object<Schemas["Post"]>("Post", {
  id: s.id,
  author,
  title: s.string,
  content: s.string,
  likes_count: s.integer(0),
  comments_count: s.integer(0),
  liked_by_me: s.boolean,
  created_at: s.dateTime,
  updated_at: s.dateTime,
});

const postPage = s.object<Schemas["PostPage"]>("PostPage", {
  items: s.array(post),
  next_cursor: s.nullable(s.string),
});

const likeResult = s.object<Schemas["LikeResult"]>("LikeResult", {
  liked: s.boolean,
  likes_count: s.integer(0),
});

// The document's GoalSlug enum: the server's catalog must stay inside it.
const goalSlug = s.oneOf<Schemas["GoalSlug"]>(
  "backend",
  "frontend",
  "mobile",
  "data-science",
  "machine-learning",
  "devops-cloud",
  "cybersecurity",
  "ux-design",
);

const catalog = s.object<Schemas["Catalog"]>("Catalog", {
  goals: s.array(
    s.object<Schemas["CatalogGoal"]>("CatalogGoal", { slug: goalSlug, title: s.string, description: s.string }),
  ),
});

const level = s.oneOf("beginner", "intermediate", "advanced");
const percent: s.Check<number> = (v, at) => {
  const n = s.number(v, at);
  if (n < 0 || n > 100) throw new s.ShapeError(`${at}: expected 0..100, got ${n}`);
  return n;
};

const step = s.object<Schemas["Step"]>("Step", {
  id: s.id,
  skill: s.string,
  title: s.string,
  description: s.string,
  est_hours: s.number,
  week_start: s.optional(s.integer(1)),
  week_end: s.optional(s.integer(1)),
  resources: s.array(s.object<Schemas["Resource"]>("Resource", { title: s.string, url: s.string })),
  done: s.boolean,
  done_at: s.nullable(s.dateTime),
});

const roadmap = s.object<Schemas["Roadmap"]>("Roadmap", {
  id: s.id,
  title: s.string,
  goal: s.string,
  level,
  hours_per_week: s.integer(1, 80),
  total_hours: s.number,
  total_weeks: s.integer(0),
  progress_percent: percent,
  created_at: s.dateTime,
  milestones: s.array(
    s.object<Schemas["Milestone"]>("Milestone", {
      index: s.integer(0),
      title: s.string,
      week_start: s.integer(1),
      week_end: s.integer(1),
      steps: s.array(step),
    }),
  ),
});

// ---- plumbing ----

/** What openapi-fetch answers: the parsed body on success, the parsed error otherwise. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Asserts the status and the success body's shape; returns the checked body. */
function expect<T>(what: string, answer: Answer<T>, status: number, check: s.Check<T>): T {
  const { response } = answer;
  if (response.status !== status) {
    const body = answer.error === undefined ? "" : ` ${JSON.stringify(answer.error).slice(0, 400)}`;
    throw new TourError(`${what}: expected HTTP ${status}, got ${response.status}${body}`);
  }
  const type = response.headers.get("content-type") ?? "";
  if (!/^application\/json\b/.test(type)) {
    throw new TourError(`${what}: expected an application/json body, got content-type "${type}"`);
  }
  return check(answer.data, what);
}

// Every response carries X-Request-Id, and echoes a suitable one we send (the document's
// RequestIdHeader and X-Request-Id header); checked on every call of the tour.
const requestIds: Middleware = {
  onRequest({ request }) {
    request.headers.set("x-request-id", `tour.${randomUUID()}`);
    return request;
  },
  onResponse({ request, response }) {
    const sent = request.headers.get("x-request-id");
    const got = response.headers.get("x-request-id");
    if (got !== sent) {
      throw new TourError(`${request.method} ${new URL(request.url).pathname}: X-Request-Id ${sent} was answered with ${got}`);
    }
    return response;
  },
};

function client(baseUrl: string, fetch: ((input: Request) => Promise<Response>) | undefined, accessToken?: string): RotaClient {
  const c = createRotaClient({
    baseUrl,
    ...(fetch ? { fetch } : {}),
    ...(accessToken !== undefined ? { accessToken } : {}),
  });
  c.use(requestIds);
  return c;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timed(name: string, run: () => Promise<string>): Promise<void> {
  const start = performance.now();
  const note = await run();
  console.log(`ok  ${name.padEnd(16)} ${String(Math.round(performance.now() - start)).padStart(5)} ms  ${note}`);
}

// ---- the tour ----

async function tour(baseUrl: string): Promise<void> {
  const host = new URL(baseUrl).hostname;
  const fetch = /^127\./.test(host) ? fetchFrom(randomLoopback()) : undefined;
  const anonymous = client(baseUrl, fetch);

  const email = `tour-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}@example.com`;
  let auth!: Schemas["AuthResponse"];
  await timed("register", async () => {
    auth = expect(
      "POST /api/auth/register",
      await anonymous.POST("/api/auth/register", {
        // The account's language comes from Accept-Language (q-values honoured).
        params: { header: { "Accept-Language": "tr-TR,tr;q=0.9,en;q=0.8" } },
        body: { email, password: "correct horse battery staple", display_name: "Tour" },
      }),
      201,
      authResponse,
    );
    if (auth.user.email !== email) throw new TourError(`register: user.email is ${auth.user.email}, sent ${email}`);
    return `user ${auth.user.id} ${email}`;
  });
  const me = client(baseUrl, fetch, auth.access_token);

  await timed("me (locale)", async () => {
    const mine = expect("GET /api/users/me", await me.GET("/api/users/me"), 200, meShape);
    if (mine.locale !== "tr") throw new TourError(`me: registered with Accept-Language tr-TR, locale is ${mine.locale}`);
    const back = expect("PATCH /api/users/me", await me.PATCH("/api/users/me", { body: { locale: "en" } }), 200, meShape);
    if (back.locale !== "en") throw new TourError(`me: PATCH locale en answered ${back.locale}`);
    return "tr from Accept-Language, then en by PATCH";
  });

  const title = `Tour ${randomUUID()}`;
  let created!: Schemas["Post"];
  await timed("create post", async () => {
    // Retry-safe create: the same key and body answer the first response, not a second post.
    const key = randomUUID();
    const request = {
      params: { header: { "Idempotency-Key": key } },
      body: { title, content: "Posted by the generated client's tour." },
    };
    created = expect("POST /api/community/posts", await me.POST("/api/community/posts", request), 201, post);
    if (created.title !== title || created.author.id !== auth.user.id || created.likes_count !== 0) {
      throw new TourError(`create post: unexpected post ${JSON.stringify(created)}`);
    }
    const again = await me.POST("/api/community/posts", request);
    const replay = expect("POST /api/community/posts (replay)", again, 201, post);
    if (replay.id !== created.id || again.response.headers.get("idempotent-replayed") !== "true") {
      throw new TourError(
        `create post: the replay with the same Idempotency-Key answered post ${replay.id}` +
          ` (Idempotent-Replayed: ${again.response.headers.get("idempotent-replayed")}), not post ${created.id} replayed`,
      );
    }
    return `post ${created.id} (replayed by its Idempotency-Key)`;
  });

  await timed("like", async () => {
    const liked = expect(
      "POST /api/community/posts/{id}/like",
      await me.POST("/api/community/posts/{id}/like", { params: { path: { id: created.id } } }),
      200,
      likeResult,
    );
    if (!liked.liked || liked.likes_count !== 1) throw new TourError(`like: expected {liked: true, likes_count: 1}, got ${JSON.stringify(liked)}`);
    return `post ${created.id} likes_count ${liked.likes_count}`;
  });

  await timed("feed (new)", async () => {
    // The feeds are eventually consistent (docs/api.md): look for up to 3 s.
    const deadline = Date.now() + 3000;
    for (let polls = 1; ; polls++) {
      const page = expect(
        "GET /api/community/posts",
        await me.GET("/api/community/posts", { params: { query: { sort: "new", limit: 100 } } }),
        200,
        postPage,
      );
      const found = page.items.find((p) => p.id === created.id);
      if (found && found.liked_by_me) return `post ${created.id} found, liked_by_me (${polls} poll${polls > 1 ? "s" : ""})`;
      if (Date.now() >= deadline) {
        throw new TourError(
          found
            ? `feed: post ${created.id} is in the "new" feed but liked_by_me stayed false for 3 s`
            : `feed: post ${created.id} did not appear in the first page of the "new" feed within 3 s`,
        );
      }
      await sleep(200);
    }
  });

  let goal!: Schemas["CatalogGoal"];
  await timed("catalog", async () => {
    const { goals } = expect("GET /api/roadmaps/catalog", await anonymous.GET("/api/roadmaps/catalog"), 200, catalog);
    const first = goals[0];
    if (first === undefined) throw new TourError("catalog: no goals");
    goal = first;
    // Signed out, the catalog follows Accept-Language (and says it varies by it).
    const turkish = await anonymous.GET("/api/roadmaps/catalog", { params: { header: { "Accept-Language": "tr" } } });
    const tr = expect("GET /api/roadmaps/catalog (tr)", turkish, 200, catalog);
    const trFirst = tr.goals[0];
    if (trFirst === undefined || trFirst.slug !== first.slug || trFirst.title === first.title) {
      throw new TourError(`catalog: Accept-Language tr answered ${JSON.stringify(trFirst)}, English ${JSON.stringify(first)}`);
    }
    if (turkish.response.headers.get("vary") !== "Accept-Language") {
      throw new TourError(`catalog: Vary is ${turkish.response.headers.get("vary")}`);
    }
    return `${goals.length} goals, using "${goal.slug}" ("${trFirst.title}" in Turkish)`;
  });

  let plan!: Schemas["Roadmap"];
  await timed("create roadmap", async () => {
    plan = expect(
      "POST /api/roadmaps",
      await me.POST("/api/roadmaps", {
        params: { header: { "Idempotency-Key": randomUUID() } },
        body: { goal: goal.slug, level: "beginner", hours_per_week: 6 },
      }),
      201,
      roadmap,
    );
    const steps = plan.milestones.flatMap((m) => m.steps);
    if (plan.goal !== goal.slug || steps.length === 0 || plan.progress_percent !== 0) {
      throw new TourError(`create roadmap: expected a fresh ${goal.slug} plan with steps, got ${JSON.stringify(plan).slice(0, 400)}`);
    }
    return `roadmap ${plan.id}: ${plan.milestones.length} milestones, ${steps.length} steps, ${plan.total_weeks} weeks`;
  });

  await timed("read roadmap", async () => {
    const read = expect(
      "GET /api/roadmaps/{id}",
      await me.GET("/api/roadmaps/{id}", { params: { path: { id: plan.id } } }),
      200,
      roadmap,
    );
    // A single item is read strongly consistently (docs/api.md): exactly what was created.
    if (!isDeepStrictEqual(read, plan)) throw new TourError(`read roadmap: roadmap ${plan.id} reads back differently from how it was created`);
    return `roadmap ${plan.id} reads back as created`;
  });
}

const baseUrl = process.env.ROTA_BASE_URL || DEFAULT_BASE_URL;
console.log(`tour of ${baseUrl}`);
try {
  await tour(baseUrl);
  if (s.undocumented.size > 0) {
    console.log(`note: members the server sent that the document does not name: ${[...s.undocumented].sort().join(", ")}`);
  }
  console.log("tour passed");
} catch (e) {
  if (e instanceof TourError || e instanceof s.ShapeError) {
    console.error(`FAILED: ${e.message}`);
  } else {
    // Mostly the stack not answering: fetch's own error hides the cause one level down.
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
    console.error(`FAILED: cannot talk to ${baseUrl}: ${e instanceof Error ? e.message : String(e)}${cause}`);
  }
  process.exitCode = 1;
}
