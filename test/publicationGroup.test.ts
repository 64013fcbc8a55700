// Group commit of snapshot publication: one round serves every upload whose change it covers, later
// arrivals wait for the next round, and a failed round fails exactly the requests it was for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PublicationGroup } from '../server/publication/group.ts';
import { decodeAnnouncement, encodeAnnouncement } from '../server/db/notifications.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('publication group: one round covers all waiting changes; arrivals during a round get the next one', async () => {
  const rounds: { target: bigint; reasons: string[]; done: ReturnType<typeof deferred<{ covers: bigint; result: string }>> }[] = [];
  const group = new PublicationGroup<string>((target, reasons) => {
    const done = deferred<{ covers: bigint; result: string }>();
    rounds.push({ target, reasons, done });
    return done.promise;
  });
  const a = group.waitFor(5n, 'a');
  const b = group.waitFor(3n, 'b');
  await new Promise((r) => setImmediate(r));
  assert.equal(rounds.length, 1);
  assert.equal(rounds[0]!.target, 5n, 'the first round starts at once, for the first waiter');
  const c = group.waitFor(7n, 'c'); // arrives during round 1
  rounds[0]!.done.resolve({ covers: 5n, result: 'snapshot 1' });
  assert.equal(await a, 'snapshot 1', 'covered by round 1 although it was not its target');
  assert.equal(await b, 'snapshot 1');
  await new Promise((r) => setImmediate(r));
  assert.equal(rounds.length, 2);
  assert.equal(rounds[1]!.target, 7n);
  assert.deepEqual(rounds[1]!.reasons, ['c']);
  rounds[1]!.done.resolve({ covers: 9n, result: 'snapshot 2' });
  assert.equal(await c, 'snapshot 2');
  assert.equal(group.size, 0);
});

test('publication group: a failed round fails its own batch only, and the group keeps working', async () => {
  let calls = 0;
  const gate = deferred<void>();
  const group = new PublicationGroup<string>(async (target) => {
    calls++;
    if (calls === 1) {
      await gate.promise;
      throw new Error('database unavailable');
    }
    return { covers: target, result: `round ${calls}` };
  });
  const first = group.waitFor(1n, 'first');
  await new Promise((r) => setImmediate(r));
  const second = group.waitFor(2n, 'second'); // waits while round 1 runs
  gate.resolve();
  await assert.rejects(first, /database unavailable/);
  assert.equal(await second, 'round 2');
  assert.equal(await group.waitFor(3n, 'third'), 'round 3');
});

test('announcements: own origin recognised, older bare-array form read, anything else ignored', () => {
  const text = encodeAnnouncement('host:1/abc', [
    { role: 'snapshot', version: 4 },
    { role: 'timestamp', version: 9, file: { bytes: Buffer.from('x') } } as never,
  ]);
  assert.deepEqual(
    JSON.parse(text),
    {
      origin: 'host:1/abc',
      published: [
        { role: 'snapshot', version: 4 },
        { role: 'timestamp', version: 9 },
      ],
    },
    'no bytes on the wire',
  );
  assert.deepEqual(decodeAnnouncement(text), {
    origin: 'host:1/abc',
    published: [
      { role: 'snapshot', version: 4 },
      { role: 'timestamp', version: 9 },
    ],
  });
  assert.deepEqual(decodeAnnouncement('[{"role":"targets","version":2}]'), { origin: '', published: [{ role: 'targets', version: 2 }] });
  // With the expiry of what was published, when known (listeners take the head without reading it).
  const expires = new Date('2030-01-02T03:04:05Z');
  const dated = encodeAnnouncement('o', [{ role: 'p', version: 2, file: { expires } } as never, { role: 'q', version: 3, expires }]);
  assert.deepEqual(JSON.parse(dated).published, [
    { role: 'p', version: 2, expires: '2030-01-02T03:04:05.000Z' },
    { role: 'q', version: 3, expires: '2030-01-02T03:04:05.000Z' },
  ]);
  assert.deepEqual(decodeAnnouncement(dated)?.published, [
    { role: 'p', version: 2, expires },
    { role: 'q', version: 3, expires },
  ]);
  assert.deepEqual(decodeAnnouncement('{"origin":"o","published":[{"role":"p","version":1,"expires":"soon"}]}')?.published, [
    { role: 'p', version: 1 },
  ]);
  for (const bad of ['', 'nope', '{}', '{"origin":1,"published":[]}', '{"origin":"x","published":[{"role":"a","version":"1"}]}', 'null']) {
    assert.equal(decodeAnnouncement(bad), null, bad);
  }
});

test('an announcement too large for NOTIFY asks the other processes to reload instead', () => {
  const many = Array.from({ length: 1024 }, (_, i) => ({ role: `bin-${i.toString(16).padStart(3, '0')}`, version: 1 }));
  const payload = encodeAnnouncement('me', many);
  assert.ok(Buffer.byteLength(payload) < 8000);
  assert.deepEqual(decodeAnnouncement(payload), { origin: 'me', published: [], reload: true });
  assert.deepEqual(decodeAnnouncement(encodeAnnouncement('me', many.slice(0, 2))), { origin: 'me', published: many.slice(0, 2) });
});
