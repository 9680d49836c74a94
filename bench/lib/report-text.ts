/**
 * The report's prose: why each missed target is missed (from profiles), and what each figure means.
 * Kept apart from the tables so a changed reason is a one-line diff here.
 */

/** Where livetail's extra cost comes from, per target; shown only beside a target the run missed. */
export const WHY = {
  w1:
    'on two cores W1 is server-bound for livetail and Socket.IO alike, so the throughput ratio follows the ratio of server CPU per delivery. ' +
    'livetail\'s fan-out costs less per delivery than Socket.IO\'s (each message framed once, the frames of one commit written to a socket in one writev), ' +
    'but every log is also validated, sanitized, given an id and committed to the store before it is sent, which the others do not do ' +
    '(in W1 the SQLite commit is about a quarter of livetail\'s server CPU). ' +
    'At 5,000 and 10,000 sockets (more users, so fewer messages per socket per commit) the coalescing gains less.',
  w1cpu:
    'the per-log ingest work (store commit, id, validation, sanitizing) is spread over the sockets of the log\'s user; with fewer messages per socket per commit (more users) ' +
    'the coalesced writes save less, and the ratio rises with the number of users.',
  w2:
    'each message waits for its POST\'s validation and sanitizing and for its batch\'s store commit (about 3–5 ms for 100 logs) before it is fanned out; ' +
    'bare ws starts sending while the request is still being handled. With POSTs of 10 logs, per-request work (Express middleware, auth, one commit per POST) ' +
    'nearly saturates livetail at 2,000 logs/s.',
  w3:
    'per socket livetail keeps a Connection and its StreamCursor (about 200 bytes), an entry in its user\'s pool and in its session\'s set, and ws\'s own objects as bare ws does; ' +
    'the socket\'s events reach the Connection without listeners (src/gateway/gateway-socket.ts), so no closure is kept per socket where bare ws keeps three. ' +
    'Its V8 heap per socket is within 3 % of bare ws\'s (a heap snapshot diff over 5,000 sockets, history.md). What is left: each session\'s Set of sockets in Sessions (about 45 bytes per socket ' +
    'at 10 per session), three AsyncLocalStorage stores (better-auth\'s) marked on every TCP handle (24 bytes), the Connection and cursor. RSS per socket also counts free pages of V8 and malloc ' +
    'and swings by ±20 % between runs of one build on this shared machine, so a single run can land on either side of 1 ×.',
  w4:
    'since RecentLogs (history.md sections 8 and 20) a connect\'s initial-logs is answered from the user\'s newest logs kept in memory in step with the stream, read from the store at the user\'s first join and kept RECENT_LOGS_LINGER_MS after its last socket; ' +
    'since section 12 the initial-logs frame is built once per state of those logs (each connect writes it with its own timestamp), the 101 and initial-logs leave in one write, and a user known to have no jobs gets its initial-jobs without the store. ' +
    'The bytes themselves are not what bounds it: bare ws writing each new socket a message of initial-logs\' size (the reference row below) spends about 40–60 µs more per connect than bare ws and keeps about 0.7–0.8 × its connects/s; ' +
    'livetail spends some 150–250 µs more than that one. In a `--cpu-prof` profile of the W4 windows (history.md section 19) that is spread thin over livetail\'s own steps: the join and initial-logs\' frame (about 5 %), ' +
    'the connect and close log lines (about 4 %), better-auth\'s session check (about 3 %, its HMAC key imported per check), the peer address, Origin and URL (about 3 %), the Connection and its heartbeat, GC (about 5 %); nothing of it large enough that removing it would close the gap.',
  w5:
    '40–50 µs of server CPU per log (by host) in earlier runs. Profiled at retention, SQLite\'s own work is more than half of it: ' +
    'each log is a row in two B-trees (the primary key, without a rowid table, and the id index used by `since`), every touched page goes to the WAL, and as many old rows are deleted as new ones added; ' +
    'the reference pays that too (its µs per log are in the reference figures below). What livetail adds on top is HTTP and body parsing, validation, sanitizing, ' +
    'Kysely building the commit\'s statements and reading the stream heads in every commit, GC and the 201 echo of the stored logs.',
  w6:
    'a published entry waits for the 5 ms linger, then behind the POST in flight (one at a time, to keep publish order), then for its own POST: ' +
    'validation, sanitizing and the store commit of its batch. On a busy machine the wait behind the previous POST dominates.',
  perRequest:
    'profiled for issue 16 (history.md sections 6, 9, 13 and 18): the commit goes through prepared statements in a transaction of its own (a user\'s head advanced by one upsert), ' +
    'pino-http and helmet\'s chain were replaced by a direct access line and precomputed headers, the 201 is written directly, and since section 18 the standalone server carries a plain ' +
    'POST /api/logs through the ingest lane, without Express and its body parser (which cost a small POST more than everything else together: node\'s own HTTP answers the same request in about a third of bare Express\'s CPU). ' +
    'What is left in a POST-of-1 profile: SQLite about 27 % (2.1 POSTs per transaction at 4 in flight, about 8 WAL frames per transaction; raw better-sqlite3 spends the same per transaction here), the 201\'s writev about 14 %, ' +
    'node\'s HTTP about 11 %, GC 3 %, the rest a few per cent each. A POST of 10 names 10 users: its commit (about 20 WAL frames) is most of it, ' +
    'so that row cannot get near 1.5 × while each POST is stored before it is answered.',
  w2small:
    'in a CPU profile of only this stage\'s windows (the ingest lane, history.md section 18) livetail\'s server spends 27 % in the socket writes (one write system call per socket per POST, as bare ws makes one per message: most of bare ws\'s own cost), ' +
    'about 13 % in SQLite (each POST of 10 names 10 users and is stored in a transaction of its own before its logs fan out: about 20 WAL frames, two `pwrite`s each), about 8 % in the HTTP request and its 201, 4 % in validation, ' +
    'the hub, bus and RecentLogs about 5 %, GC about 4 %. Since the ingest lane (section 18) Express is out of it, and the POST path is about 6 µs per delivery of its ~100. ' +
    'Each POST\'s logs wait for its validation and commit before they fan out, and a POST that arrives during another\'s commit waits for it. SQLite\'s WAL checkpoints run in a worker thread (section 16). ' +
    'The tail is what is left: garbage collection (scavenges of 2–3 ms every few hundred ms; mark-compacts once W1 has grown the old generation) and, on a slow host where the server runs at 80–90 % of a core in this stage, queueing.',
  w1growth:
    'the per-log ingest work (store commit, id, validation, sanitizing) is shared by the sockets of the log\'s user; at 10,000 sockets there are ten times as many users, ' +
    'so each commit\'s logs reach fewer sockets each and the coalesced writes save less. In `--cpu-prof` profiles of the levels stage the socket writes (the write and writev system calls) ' +
    'are 34 % of livetail\'s busy time at 1,000 sockets and 44 % at 10,000, the hub\'s fan-out code itself about 4 %: with batches of 100 logs for random users, at 100 users a commit puts about 1.6–2.5 messages on each socket it reaches (by the batch arithmetic, one or a few POSTs per commit), ' +
    'written in one writev (0.4–0.6 writes per delivery), at 1,000 users about 1.1 (0.9 writes per delivery), where bare ws writes once per delivery at both. The growth is the ' +
    'coalescing\'s gain at 1,000 sockets going away, not a cost that grows with users; closing it would take holding writes across commits, which adds latency.',
  storm:
    'both sides use the SDK\'s backoff, full jitter: after n failed attempts a client waits a random time below 500 ms × 2^n (at most 30 s), so every attempt that meets a server still ' +
    'starting widens the window the last clients come back in. livetail binds its port before loading and holds what arrives meanwhile (history.md section 10), so clients make about 1.1 attempts each; ' +
    'it answers /healthz 1.7–2.9 s after the kill (bare ws 0.9–1.2 s), all of it loading and compiling modules (better-auth and its migration module about 0.5 s of CPU, CPU-bound: nothing to overlap). ' +
    'Then it answers resumes at about 0.4 ms of CPU each (profile of 10,000, history.md section 12: the handshake and its 101, the writes, better-auth\'s check of each session once ' +
    '(about 0.33 ms per check: HMAC key import and verify, session and user lookup), the first join of each user reading the store), bare ws about 0.14 ms. Both servers\' accept queues overflow ' +
    '(somaxconn 4,096; livetail asks for a backlog of 8,192) and a dropped SYN is sent again only 1, 3, 7, 15 and 31 s later, which is what makes single runs swing.',
  stormLoss:
    'a log lost, doubled, out of order or delivered without being stored breaks livetail\'s guarantee (durable before delivered, exactly once, in order): a bug, not a cost. ' +
    'The storm table names the first client that saw it.',
  w5pg:
    'a commit of only logs is three round trips (BEGIN, one call of livetail_append_logs, COMMIT; history.md section 7), trims are per-user ranges of the primary key, ' +
    'and StreamWriter keeps a second transaction in flight on PostgreSQL (section 14): the next one starts once the one under way has written (its head locks held, its seqs ' +
    'fixed) and is published after it, so livetail prepares and answers one while PostgreSQL commits the other. What bounds it now: a transaction of many POSTs names most of ' +
    'the 100 users, so the next one\'s writes wait on PostgreSQL for the previous COMMIT (its fsync): PostgreSQL\'s work per commit runs one after the other, and on a quiet ' +
    'machine neither livetail (about 80 % of a core, 24–26 µs per log) nor PostgreSQL\'s backends (about 47 %) is saturated. On a loaded machine livetail\'s own CPU per log ' +
    '(HTTP, body parsing, validation, sanitizing, the 201 echo) is what is left.',
};

/** What each figure means: printed under every report so a table is never read without it. */
export const MEANING = [
  '## What the figures mean',
  '',
  '- **Targets.** livetail runs as users run it: `node dist/main.js`, NODE_ENV=production, a SQLite file (or a fresh PostgreSQL database) of its own, better-auth sessions checked at every upgrade, logs posted to POST /api/logs with INGEST_TOKEN, validated, sanitized, stored, then fanned out; limits raised only so the benchmark never trips them. **bare-ws** is node http + ws: per-user socket sets, the same POST endpoint stringifying each message once and sending it, nothing checked or stored. **socket.io** is Socket.IO 4 with a room per user and the same endpoint. All three send the same `log` message. Each stage starts its targets fresh, each in its own process.',
  '- **Clients** are separate worker processes (their CPU is in the conditions table; a worker near 100 % means the clients, not the server, set the rate). They offer permessage-deflate as browsers do; every server declines it unless a row says otherwise (livetail: PERMESSAGE_DEFLATE=false by default, because compressing each ~450-byte message separately per socket costs far more CPU and memory than it saves).',
  '- **W1 deliveries/s**: messages received by all clients per second while batches of 100 logs for random users are posted with a few POSTs (and at most that many batches not yet received) outstanding. On two cores this is bounded by whichever of server and clients saturates first, so read it with the next figure.',
  '- **Server CPU µs per delivery**: CPU time of the server process (all threads, user + system, from /proc/<pid>/stat) over the window, divided by the messages delivered in it. It includes everything the server does for them: for livetail HTTP, validation, sanitizing, the store commit and the fan-out. This is the figure that compares targets fairly on a shared machine.',
  '- **W2 latency**: from just before the POST is sent to the moment a client receives the message (the monotonic clock all processes share), at a fixed rate of 2,000 logs/s (≈ 20,000 deliveries/s) in POSTs of 100 logs every 50 ms, like W1 and W5; the rows "POSTs of 10 every 5 ms" show the same rate in ten times as many requests, where per-request work (HTTP, auth, validation, one store commit per POST) weighs more.',
  '- **W3 bytes per socket**: growth of the server\'s RSS and of its V8 heap (without compiled code) per idle authenticated socket, after two full GCs, measured over the last 90 % of the sockets (the first 10 % warm every lazy path). The point at scale (50,000 in the full run) starts fresh targets and fills one at a time, its clients spread over extra client workers (at most 16,000 sockets each) and over source addresses 127.0.0.1, .2, … taken in turn (one address has about 28,000 ephemeral ports towards one server, and binding to one slows down from a few thousand on), each target stopped once measured so that its server closes first; a server that may not open that many files here (`ulimit -Hn`, raised through prlimit only with CAP_SYS_RESOURCE) runs with as many as it may, and the row says so.',
  '- **W4 connections/s**: connects at the given concurrency until each socket can receive, in rounds after one unmeasured window per target (a cold server connects at a fraction of its warm rate): for livetail when `initial-logs` arrived, for Socket.IO after its connect packet, for bare ws at `open`. For livetail that is the whole path: the client sends the Origin a browser would (the target\'s own URL, livetail\'s trusted origin, so the check runs and passes), the per-address upgrade rate check runs (its limit raised), the session is checked through better-auth (a cache of a few seconds, SESSION_CACHE_TTL_MS, so most connects of a user reuse one check), and every user has logs stored (the row says how many), so initial-logs carries the newest 100 (INITIAL_LOGS), about 45 KB per connect: read from the store at a user\'s first join (in the warm-up), then from the newest logs livetail keeps in memory per user. The baselines check nothing and send nothing on connect; the second reference, **bare-ws sending initial-logs**, is bare ws writing each new socket one message of the size of livetail\'s initial-logs (100 logs as the bench stores them), made once, at `open` too.',
  '- **Per request**: server CPU per POST /api/logs with 1 (and 10) entries, 4 outstanding, nobody listening: livetail (its service token, validation, sanitizing, its store commit, the 201 with the stored logs) against **bare-express**, Express 5 + `express.json()` answering 201 with the parsed body and nothing else (ETag and X-Powered-By off, as in livetail\'s app), in the same stage, in interleaved rounds.',
  '- **W5 logs stored/s**: logs acknowledged with 201 per second by livetail alone (no sockets), each POST a batch of 100. The reference, **raw better-sqlite3**, stores the same batches (100 entries for random users of the same users, each with a UUIDv7 and a timestamp, its data serialized) into a copy of the same filled file (livetail\'s tables, from its migrations), with livetail\'s pragmas: per batch one BEGIN IMMEDIATE, one prepared INSERT per row, per user one DELETE past retention (MAX_LOGS_PER_USER) and one head UPDATE, COMMIT — no HTTP, validation or Kysely.',
  '- **Reconnect storm**: the clients connected (livetail: its SDK, livetail/client, 10 per user, each user with stored logs; bare ws: plain sockets reconnecting with the SDK\'s own Backoff class, full jitter from 500 ms doubling to 30 s), a producer posting POSTs of 10 for a moment, then the server is killed with -9 (POSTs still in flight) and started again at once on the same port and data. The figure is the time from the kill to the last client resumed: for livetail its initial-logs after the restart (it resumed with `since`), for bare ws its `open`. Then every livetail client\'s delivered logs are counted against what the store holds for its user: each stored log exactly once, in order, none that the store does not hold.',
  '- **W6 producers**: the same ingest as W5, once as producers send entries by hand (one POST each) and once through livetail/publisher; the latency rows are from publish() (or the POST\'s start) to the 201 that took the entry, at a fixed rate. **W7** is the ImapFlow adapter\'s CPU per command in the app process (ImapFlow formatting its traffic for a logger included).',
  '- **Scale curve**: the same figures at more sockets (10 per user, more users); a ratio near 1.00 between the largest and the smallest point means the cost per delivery or per socket stays flat, i.e. the total grows linearly.',
  '- **Conditions**: where the machine\'s CPU went during the windows. "Other processes" is CPU used outside the benchmark; windows above the threshold are run again when time allows, and the count of still-disturbed windows is shown. Absolute figures drift ±10–15 % between runs even on a quiet machine; ratios from one run drift less.',
  '',
];
