import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../../src/store/db.ts';
import { pgliteBackend } from '../../helpers/db.ts';
import { fixture, idem, makeIntent, submitBody } from '../helpers/fixture.ts';

vi.setConfig({ testTimeout: 120_000 });

const backend = pgliteBackend();
let db: Db;
beforeAll(async () => {
  db = await backend.open();
});
afterAll(() => backend.cleanup());

describe('the 201 body of POST /v1/intents (IntentService.viewJson)', () => {
  it('is the JSON of the intent view, byte for byte', async () => {
    const { c } = await fixture(db);
    // Quotes, backslashes, non-ASCII and an astral character: the spliced canonical JSON must
    // escape exactly as the view's JSON.stringify does.
    const intent = makeIntent({ reference: 'wïthdrawal "#42" \\ 東京 😀 €' });
    const r = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(intent),
    });
    expect(r.statusCode).toBe(201);
    const rec = (await c.intents.get(intent.id))!;
    const view = c.service.view(rec);
    expect(r.json()).toEqual(view);
    expect(r.body).toBe(c.service.viewJson(rec));
    expect(r.body).toBe(JSON.stringify(view));
    expect(r.json().intent).toEqual(intent);
    await c.close();
  });

  it('carries decision, failure and time lock when the record has them', async () => {
    const { c } = await fixture(db);
    const intent = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(intent) });
    const rec = (await c.intents.get(intent.id))!;
    const later = {
      ...rec,
      state: 'failed' as const,
      version: 3,
      decision: { outcome: 'deny', rule: 'r-1' },
      failure: { code: 'POLICY_DENIED', message: 'no' },
      notBefore: new Date('2026-01-01T00:00:00.000Z'),
    };
    expect(JSON.parse(c.service.viewJson(later))).toEqual(c.service.view(later));
    expect(c.service.viewJson(later)).toBe(JSON.stringify(c.service.view(later)));
    await c.close();
  });
});
