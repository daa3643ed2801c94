/**
 * The contract of what a transactional message asks of the store beyond
 * the other modes: its check-back URL and delivery time kept on the
 * transaction, and the needs-attention flag raised by the lease holder for
 * a check-back that never answers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { TransactionStore } from '../../store/ports/transaction-store.ts';
import { gidOf, LEASE_MS, MINUTE, T0, type StoreUnderTest } from './fixtures.ts';

const CHECK_URL = 'http://127.0.0.1:9/dtx/outbox/check';

export function messagesContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  beforeAll(() => {
    ({ store } = open());
  });

  async function prepare(label: string): Promise<string> {
    const gid = gidOf(label);
    await store.begin({
      gid,
      mode: 'msg',
      now: T0,
      deadlineAt: T0 + MINUTE,
      caller: 'shop',
      checkUrl: CHECK_URL,
      notBefore: T0 + 5 * MINUTE,
      branches: [{ branchId: 'mail', operations: { deliver: 'http://127.0.0.1:9/dtx/mail/deliver' }, payload: '{}' }],
    });
    return gid;
  }

  describe('messages', () => {
    it('keeps the check-back URL and the delivery time on the transaction', async () => {
      const gid = await prepare('msg-keep');
      expect((await store.load(gid))?.transaction).toMatchObject({ mode: 'msg', status: 'open', checkUrl: CHECK_URL, notBefore: T0 + 5 * MINUTE });
    });

    it('flagAttention raises the flag and writes one attention event, only for the lease holder', async () => {
      const gid = await prepare('msg-flag');
      const due = T0 + MINUTE;
      expect(await store.claim(gid, 'owner-a', due, due + LEASE_MS)).not.toBeNull();

      expect(await store.flagAttention({ gid, owner: 'owner-b', reason: 'not mine', now: due + 1 })).toBe(false);
      expect((await store.load(gid))?.transaction).toMatchObject({ needsAttention: false, attentionReason: null });
      expect(await store.events(gid)).toEqual([]);

      expect(await store.flagAttention({ gid, owner: 'owner-a', reason: 'check-back unanswered', now: due + 2 })).toBe(true);
      expect((await store.load(gid))?.transaction).toMatchObject({
        status: 'open',
        needsAttention: true,
        attentionReason: 'check-back unanswered',
        updatedAt: due + 2,
      });
      expect((await store.events(gid)).map((e) => [e.kind, e.message, e.at])).toEqual([['attention', 'check-back unanswered', due + 2]]);
    });
  });
}
