// The Qdrant double (tests/support/qdrant_double.py) driven by Qdrant's official JS client,
// @qdrant/js-client-rest 1.19.0, as a user's program would drive Qdrant 1.19: collections, upsert,
// retrieve, query (Cosine, Dot, Euclid scores checked against Qdrant's documented definitions),
// query batch, count, scroll paging, deletes, payload updates, filters and the errors. Fails when
// the double recorded a violation of Qdrant's OpenAPI document for this test's requests.
// Run by ctest (fixture qdrant), which sets VECMESH_QDRANT_URL_FILE.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';

const urlFile = process.env.VECMESH_QDRANT_URL_FILE;
if (!urlFile) {
  throw new Error('VECMESH_QDRANT_URL_FILE is not set: run through ctest (fixture qdrant)');
}
const url = readFileSync(urlFile, 'utf8').trim();
const client = new QdrantClient({ url, checkCompatibility: false, timeout: 30000 });
const prefix = `jsclient_${process.pid}_${Date.now()}`;
const UUID = '6f1c2ab1-7d3e-4c5a-9b8e-0a1b2c3d4e5f';

const POINTS = [
  { id: 1, vector: [1, 0, 0, 0], payload: { city: 'Berlin', n: 1, tags: ['a', 'b'], nested: { x: 1 } } },
  { id: 2, vector: [0, 1, 0, 0], payload: { city: 'London', n: 2, tags: ['b'] } },
  { id: 3, vector: [1, 1, 0, 0], payload: { city: 'Berlin', n: 3.5, empty: [] } },
  { id: 4, vector: [0.5, 0.2, 0.9, 0.1], payload: { city: 'Paris', n: 4, gone: null } },
  { id: UUID, vector: [0.1, 0.2, 0.3, 0.4], payload: { city: 'Oslo' } },
];
const QUERY = [0.9, 0.3, 0.1, 0.0];

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
// Qdrant's definitions (documentation, "Distance metrics"): Cosine is the cosine similarity, Dot
// the dot product (both: larger is better); Euclid the Euclidean distance (smaller is better).
const METRICS = {
  Cosine: { score: (a, b) => dot(a, b) / (norm(a) * norm(b)), largerBetter: true },
  Dot: { score: (a, b) => dot(a, b), largerBetter: true },
  Euclid: { score: (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0)), largerBetter: false },
};

const created = [];
async function collection(distance) {
  const name = `${prefix}_${created.length}_${distance.toLowerCase()}`;
  assert.equal(await client.createCollection(name, { vectors: { size: 4, distance }, hnsw_config: { m: 16 } }), true);
  created.push(name);
  const upserted = await client.upsert(name, { wait: true, points: POINTS });
  assert.equal(upserted.status, 'completed');
  assert.equal(typeof upserted.operation_id, 'number');
  return name;
}

function expected(distance, points = POINTS) {
  const m = METRICS[distance];
  return points
    .map((p) => ({ id: p.id, score: m.score(QUERY, p.vector) }))
    .sort((a, b) => (m.largerBetter ? b.score - a.score : a.score - b.score));
}

function assertScores(got, want) {
  assert.deepEqual(got.map((p) => p.id), want.map((p) => p.id));
  got.forEach((p, i) => assert.ok(Math.abs(p.score - want[i].score) < 1e-5,
    `point ${p.id}: score ${p.score}, expected ${want[i].score}`));
}

async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded; an error was expected');
}

after(async () => {
  for (const name of created) {
    try { await client.deleteCollection(name); } catch { /* reported by the tests */ }
  }
});

test('collections: create, exists, info, list, delete', async () => {
  const name = await collection('Cosine');
  assert.deepEqual(await client.collectionExists(name), { exists: true });
  assert.deepEqual(await client.collectionExists(`${name}_missing`), { exists: false });
  const info = await client.getCollection(name);
  assert.equal(info.status, 'green');
  assert.equal(info.points_count, POINTS.length);
  assert.deepEqual(info.config.params.vectors, { size: 4, distance: 'Cosine' });
  assert.equal(info.config.hnsw_config.m, 16);
  const { collections } = await client.getCollections();
  assert.ok(collections.some((c) => c.name === name));
  const again = await apiError(client.createCollection(name, { vectors: { size: 4, distance: 'Cosine' } }));
  assert.equal(again.status, 409);
  assert.equal(await client.deleteCollection(name), true);
  assert.deepEqual(await client.collectionExists(name), { exists: false });
  created.splice(created.indexOf(name), 1);
});

test('errors: a missing collection is 404, a wrong dimension 400', async () => {
  const missing = await apiError(client.getCollection(`${prefix}_missing`));
  assert.equal(missing.status, 404);
  assert.equal(missing.data.status.error, `Not found: Collection \`${prefix}_missing\` doesn't exist!`);
  const name = await collection('Dot');
  const wrong = await apiError(client.upsert(name, { wait: true, points: [{ id: 9, vector: [1, 2, 3] }] }));
  assert.equal(wrong.status, 400);
  assert.equal(wrong.data.status.error, 'Wrong input: Vector dimension error: expected dim: 4, got 3');
  const query = await apiError(client.query(name, { query: [1, 2] }));
  assert.equal(query.status, 400);
});

for (const distance of Object.keys(METRICS)) {
  test(`query ${distance}: scores and order as Qdrant defines them`, async () => {
    const name = await collection(distance);
    const { points } = await client.query(name, { query: QUERY, limit: 10 });
    assertScores(points, expected(distance));
    assert.equal(points[0].payload, null, 'a query returns no payload unless asked');
    const limited = await client.query(name, { query: QUERY, limit: 2, offset: 1, with_payload: true });
    assertScores(limited.points, expected(distance).slice(1, 3));
    assert.ok(limited.points[0].payload.city);
    // Between the third and the fourth score: f32 rounding cannot move a point across it.
    const threshold = (expected(distance)[2].score + expected(distance)[3].score) / 2;
    const kept = await client.query(name, { query: QUERY, score_threshold: threshold });
    assertScores(kept.points, expected(distance).slice(0, 3));
    const berlin = await client.query(name, {
      query: QUERY, filter: { must: [{ key: 'city', match: { value: 'Berlin' } }] },
      params: { hnsw_ef: 64, exact: true },
    });
    assertScores(berlin.points, expected(distance, POINTS.filter((p) => p.payload.city === 'Berlin')));
  });
}

test('cosine vectors come back normalised, as Qdrant stores them', async () => {
  const name = await collection('Cosine');
  const [p] = await client.retrieve(name, { ids: [3], with_vector: true });
  p.vector.forEach((x, i) => assert.ok(Math.abs(x - [Math.SQRT1_2, Math.SQRT1_2, 0, 0][i]) < 1e-6));
});

test('query batch answers each search as a single query would', async () => {
  const name = await collection('Dot');
  const searches = [{ query: QUERY, limit: 3 }, { query: [0, 0, 1, 0], limit: 2, with_payload: ['city'] }];
  const batch = await client.queryBatch(name, { searches });
  assert.equal(batch.length, 2);
  for (let i = 0; i < searches.length; i++) {
    assert.deepEqual(batch[i].points, (await client.query(name, searches[i])).points);
  }
  assert.deepEqual(batch[1].points[0].payload, { city: 'Paris' });
});

test('retrieve, count, scroll paging', async () => {
  const name = await collection('Euclid');
  const got = await client.retrieve(name, { ids: [4, UUID.toUpperCase(), 77, 1] });
  assert.deepEqual(got.map((p) => p.id), [4, UUID, 1]);
  assert.deepEqual(got[2].payload, POINTS[0].payload);
  assert.equal((await client.count(name, { exact: true })).count, 5);
  const ids = [];
  let offset;
  let pages = 0;
  do {
    const page = await client.scroll(name, { limit: 2, offset, with_payload: false });
    ids.push(...page.points.map((p) => p.id));
    offset = page.next_page_offset;
    pages += 1;
  } while (offset !== null && offset !== undefined && pages < 10);
  assert.deepEqual(ids, [1, 2, 3, 4, UUID]);
  assert.equal(pages, 3);
});

test('filters: match, any, except, range, must_not, should, has_id, is_empty, is_null, nested keys', async () => {
  const name = await collection('Cosine');
  const count = async (filter) => (await client.count(name, { filter, exact: true })).count;
  const ids = async (filter) => (await client.scroll(name, { filter, with_payload: false })).points.map((p) => p.id);
  assert.deepEqual(await ids({ must: [{ key: 'city', match: { any: ['Paris', 'Oslo'] } }] }), [4, UUID]);
  assert.deepEqual(await ids({ must: [{ key: 'city', match: { except: ['Berlin'] } }] }), [2, 4, UUID]);
  assert.deepEqual(await ids({ must: [{ key: 'n', range: { gt: 1, lte: 3.5 } }] }), [2, 3]);
  assert.deepEqual(await ids({ must_not: [{ key: 'city', match: { value: 'Berlin' } }] }), [2, 4, UUID]);
  assert.deepEqual(await ids({ should: [{ key: 'n', match: { value: 2 } }, { has_id: [UUID] }] }), [2, UUID]);
  assert.deepEqual(await ids({ must: [{ key: 'tags', match: { value: 'b' } }] }), [1, 2]);
  assert.deepEqual(await ids({ must: [{ key: 'nested.x', match: { value: 1 } }] }), [1]);
  // is_empty: missing, null or []; a missing key is empty, so must_not is_empty means "has a value".
  assert.deepEqual(await ids({ must: [{ is_empty: { key: 'tags' } }] }), [3, 4, UUID]);
  assert.deepEqual(await ids({ must_not: [{ is_empty: { key: 'empty' } }] }), []);
  assert.deepEqual(await ids({ must_not: [{ is_empty: { key: 'tags' } }] }), [1, 2]);
  assert.deepEqual(await ids({ must: [{ is_null: { key: 'gone' } }] }), [4]);
  // An integer does not match a float payload value: 3.5 is no integer, and n: 1 is 1.
  assert.equal(await count({ must: [{ key: 'n', match: { value: 1 } }] }), 1);
  assert.equal(await count({ must: [{ must: [{ key: 'city', match: { value: 'Berlin' } }] },
    { must_not: [{ has_id: [1] }] }] }), 1);
});

test('deletes by ids and by filter; set and overwrite payload; batch update', async () => {
  const name = await collection('Dot');
  assert.equal((await client.delete(name, { wait: true, points: [2] })).status, 'completed');
  assert.equal((await client.count(name)).count, 4);
  await client.delete(name, { wait: true, filter: { must: [{ key: 'city', match: { value: 'Paris' } }] } });
  assert.deepEqual((await client.scroll(name, {})).points.map((p) => p.id), [1, 3, UUID]);
  await client.setPayload(name, { wait: true, points: [1], payload: { extra: true, city: 'Bonn' } });
  assert.deepEqual((await client.retrieve(name, { ids: [1] }))[0].payload,
    { ...POINTS[0].payload, extra: true, city: 'Bonn' });
  await client.overwritePayload(name, { wait: true, points: [3], payload: { only: 1 } });
  assert.deepEqual((await client.retrieve(name, { ids: [3] }))[0].payload, { only: 1 });
  const missing = await apiError(client.setPayload(name, { wait: true, points: [12345], payload: { a: 1 } }));
  assert.equal(missing.status, 404);
  assert.equal(missing.data.status.error, 'Not found: No point with id 12345 found');
  const results = await client.batchUpdate(name, {
    wait: true,
    operations: [
      { upsert: { points: [{ id: 10, vector: [1, 2, 3, 4], payload: { b: 1 } }] } },
      { set_payload: { payload: { c: 2 }, points: [10] } },
      { delete: { points: [1] } },
    ],
  });
  assert.deepEqual(results.map((r) => r.status), ['completed', 'completed', 'completed']);
  assert.deepEqual((await client.retrieve(name, { ids: [10, 1] })).map((p) => p.payload), [{ b: 1, c: 2 }]);
});

test('the double recorded no violation of the OpenAPI document for these requests', async () => {
  const response = await fetch(`${url}/__double/violations`);
  assert.equal(response.status, 200);
  const mine = (await response.json()).filter((v) => v.path.includes(prefix));
  assert.deepEqual(mine, []);
});
