-- Identities, sessions, governance and webhooks (issue 4). Times that are signed or hashed are
-- stored as the exact RFC 3339 text; operational times (sessions, delivery) are timestamptz.

-- Principals as the coordinator knows them: written when a governance proposal executes (the
-- trust bundle is the source of truth; co-signers never read these tables).
CREATE TABLE principals (
  id          text PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('user', 'service')),
  roles       jsonb NOT NULL,
  groups      jsonb NOT NULL,
  status      text NOT NULL CHECK (status IN ('active', 'revoked')),
  created_at  text NOT NULL,
  revoked_at  text
);

-- Credentials are never deleted: rotation adds one and revokes the old one (history is kept).
-- The primary key makes a credential id unique across all principals; the second index refuses
-- the same public key registered twice (one key must identify one credential).
CREATE TABLE principal_credentials (
  id            text PRIMARY KEY,
  principal_id  text NOT NULL REFERENCES principals (id),
  type          text NOT NULL CHECK (type IN ('ed25519', 'webauthn')),
  public_key    text NOT NULL,
  status        text NOT NULL CHECK (status IN ('active', 'revoked')),
  added_at      text NOT NULL,
  revoked_at    text,
  counter       bigint,
  attestation   jsonb,
  replaced_by   text
);
CREATE UNIQUE INDEX principal_credentials_key ON principal_credentials (type, public_key);
CREATE INDEX principal_credentials_owner ON principal_credentials (principal_id);
CREATE TRIGGER principal_credentials_no_delete BEFORE DELETE ON principal_credentials
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();
CREATE TRIGGER principals_no_delete BEFORE DELETE ON principals
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();

CREATE TABLE principal_history (
  seq            bigserial PRIMARY KEY,
  principal_id   text NOT NULL,
  event          text NOT NULL,
  credential_id  text,
  at             text NOT NULL,
  actor          text NOT NULL,
  body           jsonb NOT NULL
);
CREATE INDEX principal_history_by_principal ON principal_history (principal_id, seq);
CREATE TRIGGER principal_history_append_only BEFORE UPDATE OR DELETE ON principal_history
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();

-- Single-use WebAuthn registration challenges.
CREATE TABLE webauthn_challenges (
  challenge     text PRIMARY KEY,
  principal_id  text NOT NULL,
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);

-- Read-only sessions: only the SHA-256 of the bearer token is stored, so a database leak yields
-- no usable token; they expire quickly and never authorize a state change.
CREATE TABLE sessions (
  token_hash    text PRIMARY KEY,
  principal_id  text NOT NULL,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE gov_proposals (
  digest        text PRIMARY KEY,
  version       integer NOT NULL,
  document      text NOT NULL,          -- RFC 8785 canonical JSON, as hashed
  proposer      text NOT NULL,
  proposed_at   text NOT NULL,
  effective_at  text NOT NULL,
  status        text NOT NULL CHECK (status IN ('pending', 'cancelled', 'executed', 'superseded')),
  closed_by     text,
  closed_at     text
);
CREATE INDEX gov_proposals_status ON gov_proposals (status, version);

CREATE TABLE gov_votes (
  proposal_digest  text NOT NULL REFERENCES gov_proposals (digest),
  principal_id     text NOT NULL,
  vote             text NOT NULL CHECK (vote IN ('approve', 'cancel')),
  credential_id    text NOT NULL,
  public_key       text NOT NULL,
  signature        text NOT NULL,
  at               text NOT NULL,
  PRIMARY KEY (proposal_digest, principal_id, vote)
);

-- Executed trust bundles. Append-only, but never trusted because of that: every read re-verifies
-- the whole chain from the pinned genesis, so a row edited with triggers disabled is rejected.
CREATE TABLE trust_bundles (
  version    integer PRIMARY KEY,
  digest     text NOT NULL UNIQUE,
  bundle     text NOT NULL,             -- canonical JSON of the whole bundle, signatures included
  stored_at  text NOT NULL
);
CREATE TRIGGER trust_bundles_append_only BEFORE UPDATE OR DELETE ON trust_bundles
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();

CREATE TABLE webhook_endpoints (
  id          text PRIMARY KEY,
  url         text NOT NULL,
  secret      text NOT NULL,            -- HMAC-SHA256 key shared with the receiver
  events      jsonb NOT NULL,           -- event names or ["*"]
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL
);

-- Durable delivery outbox: rows are written in the same transaction as the change they announce.
CREATE TABLE webhook_outbox (
  id               bigserial PRIMARY KEY,
  endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
  event_id         text NOT NULL,
  event            text NOT NULL,
  body             text NOT NULL,       -- the exact bytes signed and sent
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  locked_until     timestamptz,
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL,
  delivered_at     timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
