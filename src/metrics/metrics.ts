import client from 'prom-client';

/**
 * Every metric livetail exports, on a registry of its own (no module-level singleton: each app instance,
 * as in the tests, has its own). Names and meanings are documented in docs/operations.md.
 * Hot paths count once per broadcast (`inc(n)`), never once per socket write.
 */
export function createMetrics(nodeId: string) {
  const registry = new client.Registry();
  // Every series carries the node's id, so one Prometheus query can sum over nodes or split by node.
  registry.setDefaultLabels({ node: nodeId });
  // prom-client's process and Node.js metrics: livetail_process_cpu_seconds_total, livetail_nodejs_heap_size_used_bytes, ...
  client.collectDefaultMetrics({ register: registry, prefix: 'livetail_' });

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new client.Counter<L>({ name: `livetail_${name}`, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
    new client.Histogram<L>({ name: `livetail_${name}`, help, buckets, labelNames, registers: [registry] });
  const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

  return {
    registry,
    socketsOpen: new client.Gauge({ name: 'livetail_sockets_open', help: 'Open WebSocket connections on this node', registers: [registry] }),
    idleUsers: new client.Gauge({
      name: 'livetail_idle_users',
      help: 'Users with no socket left on this node whose newest logs are still kept for a reconnect (RECENT_LOGS_LINGER_MS)',
      registers: [registry],
    }),
    joinBacklogs: counter('join_backlogs_total', 'Joining sockets by where their initial-logs came from: memory (the user\'s newest logs kept by the node) or store', ['from']),
    connects: counter('connects_total', 'WebSocket connections accepted'),
    upgradeRejections: counter('upgrade_rejections_total', 'WebSocket upgrades refused, by HTTP status and error code', ['status', 'code']),
    closes: counter('socket_closes_total', 'WebSocket connections closed, by close code', ['code']),
    messagesSent: counter('messages_sent_total', 'Messages sent to clients, by type', ['type']),
    messagesReceived: counter('messages_received_total', 'Messages received from clients, by type (invalid when unparsable)', ['type']),
    protocolErrors: counter('protocol_errors_total', 'Protocol error replies, by kind', ['kind']),
    rateLimitDisconnects: counter('rate_limit_disconnects_total', 'Sockets closed with 1008 for exceeding the message rate'),
    slowConsumerDisconnects: counter('slow_consumer_disconnects_total', 'Sockets closed with 1013 because their unsent buffer exceeded MAX_BUFFERED_BYTES'),
    handlerErrors: counter(
      'handler_errors_total',
      'Exceptions caught while handling one socket frame, upgrade or HTTP request (a bug): that socket closed with 1011, or answered 500; by handler (frame, upgrade, request, request-escaped)',
      ['handler'],
    ),
    sessionEndedDisconnects: counter('session_ended_disconnects_total', 'Sockets closed with 4401 because their session ended, by how it was found', ['via']),
    logsIngested: counter('logs_ingested_total', 'Log entries stored and published'),
    logsDropped: counter('logs_dropped_total', 'Log entries not stored, by reason (level, validation)', ['reason']),
    jobEvents: counter('job_events_total', 'Job events stored and published, by source', ['source']),
    idempotentRepeats: counter(
      'idempotent_repeats_total',
      'POSTs whose Idempotency-Key was already recorded, by route (logs, jobs) and answer (replayed: the first answer again; reused: 422, another body)',
      ['route', 'answer'],
    ),
    jobEventsIgnored: counter('job_events_ignored_total', 'Job events ignored, by reason', ['reason']),
    storeWriteBatches: counter('store_write_batches_total', 'Store transactions committed by the group-commit writer'),
    storeWriteErrors: counter('store_write_errors_total', 'Store transactions that failed'),
    storeWriteDuration: histogram('store_write_duration_seconds', 'Duration of one store write transaction', latencyBuckets),
    storeWriteOps: histogram('store_write_ops', 'Writes (logs, clears, job events) per store transaction', [1, 2, 5, 10, 50, 100, 500, 1000, 5000]),
    storePendingOps: new client.Gauge({
      name: 'livetail_store_pending_ops',
      help: 'Writes (logs, clears, job events) waiting for the store or in its current transaction',
      registers: [registry],
    }),
    storeWritesRefused: counter('store_writes_refused_total', 'Writes answered 503 STORE_UNAVAILABLE, by reason (queue-full, unavailable, timeout)', ['reason']),
    storeWriteIsolations: counter('store_write_isolations_total', 'Grouped transactions refused for one submission and retried one submission at a time'),
    storeCommitsInDoubt: counter('store_commits_in_doubt_total', 'Commits whose answer was lost, by what they turned out to be (committed, aborted, unknown)', ['outcome']),
    busPublished: counter('bus_published_total', 'Messages published to the bus, by type', ['type']),
    busPublishErrors: counter('bus_publish_errors_total', 'Bus publishes that failed'),
    busReceived: counter('bus_received_total', 'Messages received from the bus, by type', ['type']),
    busLag: histogram('bus_lag_seconds', 'Time from ingest to arrival from the bus (logs)', latencyBuckets),
    busResyncs: counter('bus_resyncs_total', 'Times the bus reported possible loss and local users were caught up from the store'),
    streamGaps: counter('stream_gaps_total', 'Gaps in a user stream detected by sequence number and filled from the store'),
    fanoutLatency: histogram('fanout_latency_seconds', 'Time from ingest to the write of a log to its last local socket', latencyBuckets),
    httpConnectionsRefused: counter('http_connections_refused_total', 'TCP connections closed at once: their client address had MAX_CONNECTIONS_PER_ADDRESS open'),
    httpStalledResponses: counter('http_stalled_responses_total', 'HTTP responses cut because the client read nothing for HTTP_SEND_TIMEOUT_MS'),
    sessionCheckDuration: histogram('session_check_duration_seconds', 'Duration of a session check against better-auth (cache misses)', latencyBuckets),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
