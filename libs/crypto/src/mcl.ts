import * as mcl from 'mcl-wasm';

import { CryptoNotInitialisedError } from './errors';

/**
 * mcl-wasm keeps global state (curve, serialisation mode, map-to-curve mode), so it is set up once
 * per thread, here, and nowhere else. Every public function calls `ready()` first and fails with
 * CRYPTO.NOT_INITIALISED instead of computing on an uninitialised curve.
 */
let initialised = false;
let pending: Promise<void> | undefined;

/** Generators of G1 and G2 (the standard BLS12-381 ones, compressed ZCash encoding). */
const P1_HEX =
  '97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb';
const P2_HEX =
  '93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e' +
  '024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8';

interface Constants {
  P1: mcl.G1;
  P2: mcl.G2;
  negP1: mcl.G1;
}
let constants: Constants | undefined;

/**
 * Initialise the pairing library: BLS12-381, the ZCash/IETF point encoding (what other
 * implementations read), the RFC 9380 map to curve, and order verification on for every
 * deserialisation. Idempotent and safe to call concurrently.
 */
export function initCrypto(): Promise<void> {
  if (initialised) {
    return Promise.resolve();
  }
  pending ??= (async () => {
    await mcl.init(mcl.BLS12_381);
    mcl.setETHserialization(true);
    mcl.setMapToMode(mcl.IRTF);
    mcl.verifyOrderG1(true);
    mcl.verifyOrderG2(true);
    const P1 = new mcl.G1();
    P1.deserialize(Buffer.from(P1_HEX, 'hex'));
    const P2 = new mcl.G2();
    P2.deserialize(Buffer.from(P2_HEX, 'hex'));
    constants = { P1, P2, negP1: mcl.neg(P1) };
    initialised = true;
  })();
  return pending;
}

/** True once `initCrypto()` has completed in this thread. */
export function isCryptoReady(): boolean {
  return initialised;
}

export function ready(): Constants {
  if (!initialised || constants === undefined) {
    throw new CryptoNotInitialisedError();
  }
  return constants;
}

/**
 * Run `fn` with mcl's own order check switched off. Only the point decoder uses this: it then runs
 * the subgroup check itself (or skips it for points read back from our own storage, which were
 * checked when they were first accepted), so that a failure can be reported with its own error.
 * JavaScript runs one thing at a time per thread, so the switch cannot leak into other work.
 */
export function withoutOrderCheck<T>(fn: () => T): T {
  mcl.verifyOrderG1(false);
  mcl.verifyOrderG2(false);
  try {
    return fn();
  } finally {
    mcl.verifyOrderG1(true);
    mcl.verifyOrderG2(true);
  }
}

/** Byte sizes of the encodings (compressed points, big-endian scalars). */
export const G1_BYTES = 48;
export const G2_BYTES = 96;
export const FR_BYTES = 32;
export const GT_BYTES = 576;

/**
 * mcl's mulVec copies its inputs onto a 1 MiB stack and throws (or corrupts memory) above about
 * 5,900 G1 or 3,200 G2 points, so multi-scalar multiplications are cut into chunks of these sizes.
 */
export const MULVEC_CHUNK_G1 = 4096;
export const MULVEC_CHUNK_G2 = 2048;

/**
 * Precomputed Miller-loop lines live in wasm memory that the JavaScript GC does not see; free them
 * when the object that owns them is collected.
 */
const linesRegistry = new FinalizationRegistry<mcl.PrecomputedG2>((lines) => lines.destroy());

export function precomputeLines(owner: object, point: mcl.G2): mcl.PrecomputedG2 {
  const lines = new mcl.PrecomputedG2(point);
  linesRegistry.register(owner, lines);
  return lines;
}

export { mcl };
