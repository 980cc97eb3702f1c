/** Governance SQL in one place (pg-boss style); every value is a bound parameter. */
export const GOV_SQL = {
  chain: `SELECT version, digest, bundle, xmin::text AS row_version FROM trust_bundles ORDER BY version`,
  // Every INSERT, UPDATE or DELETE of a row gives it a new xmin (or removes it): the same list of
  // (version, xmin) means the same rows, without reading the bundles themselves.
  chainRowVersions: `SELECT version, xmin::text AS row_version FROM trust_bundles ORDER BY version`,
  insertBundle: `INSERT INTO trust_bundles (version, digest, bundle, stored_at) VALUES ($1, $2, $3, $4)`,
  insertProposal: `INSERT INTO gov_proposals (digest, version, document, proposer, proposed_at, effective_at, status)
                   VALUES ($1, $2, $3, $4, $5, $6, 'pending')`,
  getProposal: `SELECT digest, version, document, proposer, proposed_at, effective_at, status, closed_by, closed_at
                  FROM gov_proposals WHERE digest = $1`,
  listProposals: `SELECT digest, version, proposer, proposed_at, effective_at, status, closed_by, closed_at
                    FROM gov_proposals ORDER BY proposed_at, digest`,
  close: `UPDATE gov_proposals SET status = $2, closed_by = $3, closed_at = $4 WHERE digest = $1 AND status = 'pending'`,
  supersede: `UPDATE gov_proposals SET status = 'superseded', closed_at = $2
               WHERE status = 'pending' AND version <= $1`,
  insertVote: `INSERT INTO gov_votes (proposal_digest, principal_id, vote, credential_id, public_key, signature, at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
  votes: `SELECT principal_id, credential_id, public_key, signature FROM gov_votes
           WHERE proposal_digest = $1 AND vote = $2 ORDER BY at, principal_id`,
} as const;

/** Advisory lock serializing bundle execution across coordinators (arbitrary constant, area 02xx). */
export const GOVERNANCE_LOCK = 0x4355_5354_4f53_0200n;
