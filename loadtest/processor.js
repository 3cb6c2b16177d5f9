// Artillery processor for the Rota load tests (loadtest/*.yml).
//
// - newUser:      a unique email (run id + worker pid + counter) and a valid register body.
// - postBody:     a valid POST /api/community/posts body (docs/api.md: title 1..200, content 1..10000).
// - commentBody:  a valid comment body (content 1..2000).
// - dice:         random flags for optional steps (like, comment, step done/undone).
// - pickPost:     afterResponse hook: remembers a random post id of a feed page in vars.postId
//                 (falls back to the pool row's post_id, then to none).
// - stepBody:     beforeRequest hook: a boolean step PATCH body.
// - pause:        a human's pause between two clicks: PAUSE_MIN_MS + up to PAUSE_SPREAD_MS
//                 (default 5 to 11 s), drawn anew each time (users500.yml).
// - spreadSource: beforeRequest hook. With SPREAD_SOURCE_IPS=1 (set by scripts/loadtest.sh
//                 for a loopback target) each virtual user binds its connections to its own
//                 127.x.y.z, which the local gateway uses as the client's sourceIp, as distinct
//                 clients would be in production. Without it every request comes from one IP
//                 and the per-IP limits (login 30/min, register 20/h) answer 429 early.
'use strict';

const RUN = process.env.LOADTEST_RUN_ID || Date.now().toString(36);
let counter = 0;

function rnd(n) {
  return Math.floor(Math.random() * n);
}

function newUser(context, events, done) {
  counter += 1;
  const id = `${RUN}-${process.pid}-${counter}-${rnd(1e6)}`;
  context.vars.newEmail = `lt-${id}@loadtest.example`;
  context.vars.newPassword = 'load-test-password-1';
  context.vars.newName = `Load ${counter}`;
  return done();
}

const WORDS = ['rust', 'lambda', 'dynamo', 'roadmap', 'learning', 'week', 'progress', 'question',
  'tip', 'project', 'career', 'frontend', 'backend', 'data', 'cloud', 'streak'];

function words(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(WORDS[rnd(WORDS.length)]);
  return out.join(' ');
}

function postBody(context, events, done) {
  context.vars.postTitle = `Load test: ${words(3 + rnd(6))}`;
  context.vars.postContent = `${words(20 + rnd(120))}.`;
  return done();
}

function commentBody(context, events, done) {
  context.vars.commentContent = `${words(5 + rnd(30))}.`;
  return done();
}

function dice(context, events, done) {
  context.vars.doLike = Math.random() < 0.3;
  context.vars.doUnlike = Math.random() < 0.3;
  context.vars.doComment = Math.random() < 0.1;
  context.vars.doPost = Math.random() < 0.05;
  context.vars.doStep = Math.random() < 0.5;
  context.vars.stepDone = Math.random() < 0.5;
  return done();
}

const PAUSE_MIN_MS = Number(process.env.PAUSE_MIN_MS || 5000);
const PAUSE_SPREAD_MS = Number(process.env.PAUSE_SPREAD_MS || 6000);

function pause(context, events, done) {
  setTimeout(done, PAUSE_MIN_MS + rnd(PAUSE_SPREAD_MS));
}

function pickPost(requestParams, response, context, events, next) {
  try {
    const body = typeof response.body === 'string' ? JSON.parse(response.body) : response.body;
    const items = (body && body.items) || [];
    if (items.length > 0) {
      context.vars.postId = items[rnd(items.length)].id;
    } else if (!context.vars.postId && context.vars.post_id) {
      context.vars.postId = context.vars.post_id;
    }
  } catch (e) {
    // not JSON (a 429 from the gateway, a 5xx): keep what we had
  }
  return next();
}

// beforeRequest hook: PATCH /api/roadmaps/{id}/steps/{step_id} with a boolean `done`
// (artillery's templating would send the string "true").
function stepBody(requestParams, context, events, next) {
  requestParams.json = { done: Math.random() < 0.5 };
  return next();
}

function spreadSource(requestParams, context, events, next) {
  if (process.env.SPREAD_SOURCE_IPS === '1') {
    if (!context.vars.__sourceIp) {
      context.vars.__sourceIp = `127.${1 + rnd(250)}.${rnd(256)}.${1 + rnd(250)}`;
    }
    requestParams.localAddress = context.vars.__sourceIp;
  }
  return next();
}

module.exports = { newUser, postBody, commentBody, dice, pause, pickPost, stepBody, spreadSource };
