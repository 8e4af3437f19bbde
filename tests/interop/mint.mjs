// Mints, with independent implementations, what popguard must accept: for
// every JWS algorithm popguard supports, an issuer key (panva jose), an
// access token bound to a DPoP key by cnf.jkt (jose SignJWT) and a DPoP proof
// for one request: panva dpop's generateProof, exactly as it ships, for the
// algorithms dpop signs (ES256, RS256, PS256 and Ed25519, which it names
// "Ed25519" as RFC 9864 asks); jose CompactSign proofs for the others
// (ES384, ES512, RS384, RS512, PS384, PS512 and "EdDSA", which dpop never emits).
//
// Usage: node mint.mjs ISSUER AUDIENCE URL METHOD [JWKS_OUT] > cases.json
// Output: {"jwks": {"keys": [...]}, "cases": [{"alg", "token", "proof",
// "proof_by"}]}. With JWKS_OUT, the JWKS is written there first and minting
// waits until the file JWKS_OUT.go exists.
// Keys live only in this process; nothing secret is written.
import * as jose from 'jose';
import * as dpop from 'dpop';
import { existsSync, writeFileSync } from 'node:fs';

const [issuer, audience, url, method, jwksOut] = process.argv.slice(2);
if (!issuer || !audience || !url || !method) {
  console.error('usage: node mint.mjs ISSUER AUDIENCE URL METHOD');
  process.exit(2);
}

const ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512',
              'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

// jose generates EdDSA keys on Ed25519 when asked for crv Ed25519.
async function keyPair(alg) {
  const options = { extractable: true };
  if (alg === 'EdDSA') options.crv = 'Ed25519';
  return jose.generateKeyPair(alg, options);
}

const DPOP_SIGNS = new Set(['ES256', 'RS256', 'PS256', 'Ed25519']);

// proofFor signs the DPoP proof with the client's key. panva dpop picks the
// alg from the key itself (RFC 9864 "Ed25519" for Ed25519 keys).
async function proofFor(alg, client, token) {
  if (DPOP_SIGNS.has(alg)) {
    return dpop.generateProof(client, url, method, undefined, token);
  }
  const jwk = await jose.exportJWK(client.publicKey);
  const ath = jose.base64url.encode(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
  const payload = { jti: crypto.randomUUID(), htm: method, htu: url,
                    iat: Math.floor(Date.now() / 1000), ath };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
      .sign(client.privateKey);
}

// Keys first: popguard must be started with the JWKS before any proof is
// signed (a proof older than its replay window's start is refused as
// dpop_replay_window_reset).
const keys = [];
const pairs = [];
for (const alg of ALGS) {
  const iss = await keyPair(alg);
  const kid = `interop-${alg}`;
  keys.push({ ...(await jose.exportJWK(iss.publicKey)), kid, use: 'sig' });
  pairs.push({ alg, kid, iss, client: await keyPair(alg) });
}
if (jwksOut) {
  // Two-phase run: write the JWKS, then wait for GO_FILE before minting.
  writeFileSync(jwksOut, JSON.stringify({ keys }));
  while (!existsSync(`${jwksOut}.go`)) await new Promise((r) => setTimeout(r, 50));
}
const cases = [];
for (const { alg, kid, iss, client } of pairs) {
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(client.publicKey), 'sha256');
  const token = await new jose.SignJWT({ client_id: 'interop', cnf: { jkt } })
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(`interop-${alg}`)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(iss.privateKey);
  const proof = await proofFor(alg, client, token);
  cases.push({ alg, token, proof, proof_by: DPOP_SIGNS.has(alg) ? 'dpop' : 'jose' });
}
process.stdout.write(JSON.stringify({ jwks: { keys }, cases }) + '\n');
