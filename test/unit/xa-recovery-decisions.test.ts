/**
 * The XA recovery's pure decisions: which coordinator a prepared branch is
 * asked about (by the URL recorded with it), and what the answers mean. No
 * answer of "no record" ever rolls a branch back.
 */
import { describe, expect, it } from 'vitest';
import { ParticipantConfigError } from '../../participant-sdk/errors.ts';
import { coordinatorsToAsk, coordinatorUrls, decide, normaliseCoordinatorUrl, type XaGlobalStatus } from '../../participant-sdk/xa/recovery-decision.ts';

const A = 'http://coord-a.internal:36789';
const B = 'https://coord-b.internal/dtx';

describe('normaliseCoordinatorUrl', () => {
  it('matches the spellings of one URL: trailing slashes, case of scheme and host, default port, credentials, query', () => {
    for (const spelling of [
      'http://coord-a.internal:36789',
      'http://coord-a.internal:36789/',
      'HTTP://Coord-A.Internal:36789//',
      'http://user:pw@coord-a.internal:36789/?x=1#f',
    ]) {
      expect(normaliseCoordinatorUrl(spelling), spelling).toBe(A);
    }
    expect(normaliseCoordinatorUrl('https://coord-b.internal:443/dtx/')).toBe(B);
    expect(normaliseCoordinatorUrl('http://coord.internal:80')).toBe('http://coord.internal');
  });

  it('keeps what tells coordinators apart: port, path, scheme', () => {
    const urls = ['http://coord.internal:1', 'http://coord.internal:2', 'http://coord.internal/a', 'http://coord.internal/b', 'https://coord.internal'];
    expect(new Set(urls.map(normaliseCoordinatorUrl)).size).toBe(urls.length);
    // The path's case is the server's business.
    expect(normaliseCoordinatorUrl('http://coord.internal/DTX')).not.toBe(normaliseCoordinatorUrl('http://coord.internal/dtx'));
  });

  it('only drops trailing slashes from what is no http(s) URL', () => {
    expect(normaliseCoordinatorUrl('coord-a//')).toBe('coord-a');
    expect(normaliseCoordinatorUrl('urn:Coord/')).toBe('urn:Coord');
  });
});

describe("the recovery's coordinators", () => {
  it('are normalised, in order', () => {
    expect(coordinatorUrls([`${A}/`, B])).toEqual([A, B]);
  });

  it('must be at least one, and each named once', () => {
    expect(() => coordinatorUrls([])).toThrow(ParticipantConfigError);
    const twice = (() => {
      try {
        coordinatorUrls([A, 'HTTP://COORD-A.internal:36789/']);
      } catch (error) {
        return error;
      }
    })();
    expect(twice).toBeInstanceOf(ParticipantConfigError);
    expect(twice).toMatchObject({ option: 'coordinators' });
  });
});

describe('coordinatorsToAsk', () => {
  it('asks a branch only of the coordinator it recorded, matched after normalisation', () => {
    expect(coordinatorsToAsk(`${A}/`, [B, A])).toEqual([A]);
    expect(coordinatorsToAsk('HTTPS://coord-b.internal:443/dtx', [A, B])).toEqual([B]);
  });

  it('asks none when the recorded coordinator is not one of the recovery’s', () => {
    expect(coordinatorsToAsk('http://coord-c.internal', [A, B])).toEqual([]);
    expect(coordinatorsToAsk(`${A}/other`, [A, B])).toEqual([]);
  });

  it('asks every one about a branch that recorded none', () => {
    expect(coordinatorsToAsk(null, [A, B])).toEqual([A, B]);
  });
});

describe('decide', () => {
  const one = (status: XaGlobalStatus | null) => decide([{ coordinator: A, status }]);

  it("applies the asked coordinator's decision, and waits while it is preparing", () => {
    expect(one('committed')).toEqual({ kind: 'commit', coordinator: A });
    expect(one('committing')).toEqual({ kind: 'commit', coordinator: A });
    expect(one('rolled-back')).toEqual({ kind: 'rollback', coordinator: A });
    expect(one('rolling-back')).toEqual({ kind: 'rollback', coordinator: A });
    expect(one('preparing')).toEqual({ kind: 'leave', reason: 'undecided' });
  });

  it('never rolls back for want of a record', () => {
    expect(one(null)).toEqual({ kind: 'leave', reason: 'unknown-to-coordinator' });
    expect(
      decide([
        { coordinator: A, status: null },
        { coordinator: B, status: null },
      ]),
    ).toEqual({ kind: 'leave', reason: 'unknown-to-coordinator' });
  });

  it('leaves a branch no coordinator was asked about', () => {
    expect(decide([])).toEqual({ kind: 'leave', reason: 'coordinator-not-asked' });
  });

  it('acts on a branch asked of several only when exactly one knows its gid', () => {
    expect(
      decide([
        { coordinator: A, status: null },
        { coordinator: B, status: 'committed' },
      ]),
    ).toEqual({ kind: 'commit', coordinator: B });
    expect(
      decide([
        { coordinator: A, status: 'rolled-back' },
        { coordinator: B, status: 'committed' },
      ]),
    ).toEqual({ kind: 'leave', reason: 'ambiguous' });
    expect(
      decide([
        { coordinator: A, status: 'committed' },
        { coordinator: B, status: 'committed' },
      ]),
    ).toEqual({ kind: 'leave', reason: 'ambiguous' });
  });

  it('waits on a status that is no XA decision (a transaction of another mode under the same gid)', () => {
    expect(decide([{ coordinator: A, status: 'confirmed' as unknown as XaGlobalStatus }])).toEqual({ kind: 'leave', reason: 'undecided' });
  });
});
