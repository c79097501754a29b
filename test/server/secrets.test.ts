import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerToken, sameSecret } from '../../src/server/secrets.js';

test('secrets match only exactly; a missing one never does', () => {
  assert.equal(sameSecret('s3cret', 's3cret'), true);
  for (const given of ['s3cre', 's3cret ', 'S3cret', '', undefined, 's3cret'.repeat(100)]) assert.equal(sameSecret(given, 's3cret'), false, String(given));
  assert.equal(sameSecret(undefined, ''), false);
});

test('bearer tokens are taken from the Authorization header', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc  '), 'abc');
  for (const header of [undefined, '', 'Basic abc', 'Bearer', 'Bearer a b', 'abc']) assert.equal(bearerToken(header), undefined, String(header));
});
