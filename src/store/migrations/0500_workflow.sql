-- Coordinator workflow (issue 7): intents and their state history, the durable job queue and the
-- outbox. Several coordinator processes share these tables; row locks (FOR UPDATE [SKIP LOCKED])
-- serialize them, never process memory.

CREATE TABLE wf_intents (
  id            uuid PRIMARY KEY,
  digest        text NOT NULL UNIQUE,     -- hex intent digest (I2: what approvals bind to)
  intent_json   text NOT NULL,            -- RFC 8785 canonical JSON, exactly as signed
  signature     jsonb NOT NULL,           -- the requester's signature envelope, as received
  requested_by  text NOT NULL,
  wallet        text NOT NULL,
  chain         text NOT NULL,
  state         text NOT NULL,
  version       integer NOT NULL DEFAULT 0,   -- bumped by every transition
  decision      jsonb,                    -- policy decision and trace
  failure       jsonb,                    -- { code, message } when failed/blocked/rejected
  not_before    timestamptz,              -- end of a policy time lock
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE INDEX wf_intents_page ON wf_intents (created_at DESC, id DESC);
CREATE INDEX wf_intents_state ON wf_intents (state, created_at DESC, id DESC);

-- One row per transition, written in the same transaction as the state change and its audit entry.
CREATE TABLE wf_transitions (
  intent_id   uuid NOT NULL REFERENCES wf_intents (id),
  seq         integer NOT NULL,
  from_state  text,
  to_state    text NOT NULL,
  event       text NOT NULL,
  actor       text NOT NULL,
  at          timestamptz NOT NULL,
  details     jsonb NOT NULL,
  PRIMARY KEY (intent_id, seq)
);

-- Durable queue: claimed with SELECT … FOR UPDATE SKIP LOCKED; a claim is a lease (locked_until)
-- so a crashed worker's job becomes visible again; `lease` (bumped by every claim) is the fencing
-- token; `attempts` counts failures toward max_attempts.
CREATE TABLE wf_jobs (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL,
  dedup_key     text UNIQUE,
  payload       jsonb NOT NULL,
  status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'dead')),
  run_at        timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  lease         integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL,
  locked_by     text,
  locked_until  timestamptz,
  last_error    jsonb,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE INDEX wf_jobs_ready ON wf_jobs (run_at, id) WHERE status = 'queued';

-- Outbox: every external effect (unsigned tx built, signature request per co-signer, broadcast)
-- is recorded with the digest of its content BEFORE it is sent. A resumed step re-sends the same
-- bytes; a step asked to send different content for the same (intent, step) is refused (I8).
CREATE TABLE wf_outbox (
  intent_id       uuid NOT NULL REFERENCES wf_intents (id),
  step            text NOT NULL,
  content_digest  text NOT NULL,
  content         jsonb NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  result          jsonb,
  attempts        integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  PRIMARY KEY (intent_id, step)
);

-- Idempotency-Key records: (principal, key) → request hash and the stored response.
CREATE TABLE idempotency_keys (
  principal     text NOT NULL,
  key           text NOT NULL,
  method        text NOT NULL,
  path          text NOT NULL,
  request_hash  text NOT NULL,
  status_code   integer,                  -- NULL while the first request is in flight
  response      jsonb,
  lease_until   timestamptz NOT NULL,     -- an in-flight record whose owner died can be retaken
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (principal, key)
);
