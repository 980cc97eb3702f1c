-- Approver decisions received by the coordinator, as signed. The coordinator verifies each one on
-- arrival, but co-signers verify them all again themselves (I1): this table is a mailbox, not a
-- source of trust. One decision per (intent, principal): a second one is refused, not replaced.
CREATE TABLE wf_approvals (
  intent_id      uuid NOT NULL REFERENCES wf_intents (id),
  principal      text NOT NULL,
  credential_id  text NOT NULL,
  decision       text NOT NULL CHECK (decision IN ('approve', 'reject')),
  approval       jsonb NOT NULL,
  received_at    timestamptz NOT NULL,
  PRIMARY KEY (intent_id, principal)
);

-- Alerts raised by the workflow and the watchtower (refusals, unmatched outflows).
CREATE TABLE wf_alerts (
  id          bigserial PRIMARY KEY,
  severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  code        text NOT NULL,
  subject     text NOT NULL,
  message     text NOT NULL,
  details     jsonb NOT NULL,
  raised_at   timestamptz NOT NULL,
  acked_at    timestamptz,
  acked_by    text
);
CREATE INDEX wf_alerts_page ON wf_alerts (id DESC);
