import { MeterPrivateKey, ReceiverPrivateKey, ReceiverPublicKey, RegisteredMeter } from '../src/keys';
import { RandomSource, systemRandom } from '../src/random';
import { SecretScalar } from '../src/secret';
import {
  extractPartialKeyWithRandom,
  generateKeyPairWithRandom,
  setupSystemWithRandom,
  SystemParams,
} from '../src/system';

/** A small consortium for tests: system parameters, meters (both sides) and receivers (both sides). */
export interface TestMeter {
  readonly key: MeterPrivateKey;
  readonly registered: RegisteredMeter;
}

export interface TestReceiver {
  readonly id: string;
  readonly secret: SecretScalar;
  readonly pub: ReceiverPublicKey;
  readonly priv: ReceiverPrivateKey;
}

export interface World {
  readonly params: SystemParams;
  readonly masterKey: SecretScalar;
  readonly meters: readonly TestMeter[];
  readonly receivers: readonly TestReceiver[];
}

export function makeMeter(
  params: SystemParams,
  masterKey: SecretScalar,
  id: string,
  rng: RandomSource = systemRandom,
): TestMeter {
  const own = generateKeyPairWithRandom(rng);
  const partial = extractPartialKeyWithRandom(masterKey, params, id, rng);
  const key = MeterPrivateKey.assemble(params, own.secret, partial);
  const registered = RegisteredMeter.register(params, { id, publicKey: key.publicKey, alpha: key.alpha });
  return { key, registered };
}

export function makeReceiver(
  params: SystemParams,
  id: string,
  rng: RandomSource = systemRandom,
): TestReceiver {
  const own = generateKeyPairWithRandom(rng);
  return {
    id,
    secret: own.secret,
    pub: ReceiverPublicKey.register(params, { id, publicKey: own.publicKey }),
    priv: ReceiverPrivateKey.create(params, id, own.secret, own.publicKey),
  };
}

export function buildWorld(
  options: { meters?: number; receivers?: readonly string[]; rng?: RandomSource } = {},
): World {
  const rng = options.rng ?? systemRandom;
  const { masterKey, params } = setupSystemWithRandom(rng);
  const meters = Array.from({ length: options.meters ?? 1 }, (_, i) =>
    makeMeter(params, masterKey, `meter-${i + 1}`, rng),
  );
  const receivers = (options.receivers ?? ['cc', 'grid-operator', 'supplier']).map((id) =>
    makeReceiver(params, id, rng),
  );
  return { params, masterKey, meters, receivers };
}

/** v dimensions of recognisable bytes. */
export function sampleReading(v: number, salt = 0): Uint8Array[] {
  return Array.from({ length: v }, (_, i) => Uint8Array.of(i, salt & 0xff, (salt >> 8) & 0xff, 0xa5));
}
